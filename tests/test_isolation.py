"""Isolated sessions: cells in a child process under rlimits, state kept across kills."""

import os
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lmulator.config import Config
from lmulator.errors import CellTimeout, ConfigError, EmulationError
from lmulator.isolation.session import ChildError, ChildLimits, IsolatedSession, IsolationError
from lmulator.testing import value_rule

from .lines import LineReader

KEY = "sk-test-ISOLATED-SECRET"


@pytest.fixture
def isolated(lm):
    """A factory for isolated sessions whose parent talks to the scripted LM."""
    made = []

    def make(policy="restricted", limits=None, **config):
        config.setdefault("cache", "off")
        cfg = Config(base_url=lm.base_url, api_key=KEY, model="scripted", timeout=10, **config)
        s = IsolatedSession(cfg, policy=policy, limits=limits or ChildLimits(memory_mb=500))
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_cells_share_a_namespace_and_print_through_the_parent(isolated, capsys):
    s = isolated(mode="python")
    assert s.run("x = 41\nprint('hello')").error is None
    result = s.run("x + 1")
    assert repr(result.value) == "42"
    assert "hello" in capsys.readouterr().out
    result = s.run("print('again')")
    assert result.has_value and result.value is None  # None is None, not a repr of it


def test_emulation_goes_through_the_parent_and_the_key_stays_there(isolated, lm):
    lm.rules(value_rule("get_country('Paris')", "France"))
    s = isolated(policy="trusted")
    result = s.run("c = get_country('Paris')\nc")
    assert repr(result.value) == "'France'"
    assert [r.how for r in result.emulated] == ["lm"]
    assert s.lm_names == {"c": "value at line 1"}
    # Even plain Python in the child cannot find the key: it was never there.
    env = s.run("import os\ndict(os.environ)")
    assert KEY not in repr(env.value) and "OPENAI" not in repr(env.value)
    worker_env = s.run("open('/proc/self/environ', 'rb').read()")
    assert KEY not in repr(worker_env.value)


def test_policy_refusals_come_back_as_the_programs_error(isolated):
    s = isolated(mode="python")
    result = s.run("import os")
    assert isinstance(result.error, ChildError) and result.error.type_name == "ImportRefused"
    assert "not allowed" in str(result.error)


def test_a_c_level_loop_is_killed_and_the_state_before_the_cell_remains(isolated):
    s = isolated(mode="python", cell_timeout=0.5)
    s.run("kept = [1, 2]")
    start = time.monotonic()
    result = s.run("kept.append(3)\ntotal = sum(range(10**13))")
    assert time.monotonic() - start < 0.5 + 2.0 + 2.0
    assert isinstance(result.error, CellTimeout) and "killed" in str(result.error)
    assert repr(s.run("kept").value) == "[1, 2]"  # the cell's own append is undone too
    assert s.restarts == 0


def test_a_python_loop_stops_at_its_time_limit_without_a_kill(isolated):
    s = isolated(mode="python", cell_timeout=0.5)
    s.run("n = 0")
    result = s.run("while True:\n    n += 1")
    assert isinstance(result.error, CellTimeout) and "killed" not in str(result.error)
    assert int(repr(s.run("n").value)) > 0


def test_a_memory_bomb_ends_in_memory_error(isolated):
    s = isolated(mode="interweave", lm="off", limits=ChildLimits(memory_mb=300))
    s.run("kept = 1")
    result = s.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))")
    assert isinstance(result.error, MemoryError)
    assert isinstance(s.run("big = 'x' * 10**10").error, MemoryError)
    assert repr(s.run("kept + 1").value) == "2"


def test_the_child_writes_no_files_and_dumps_no_core(isolated):
    s = isolated(policy="trusted", mode="python")
    result = s.run("with open('out.txt', 'w') as fh:\n    fh.write('x' * 10)")
    assert isinstance(result.error, ChildError) and result.error.type_name == "OSError"
    result = s.run("import resource\nresource.getrlimit(resource.RLIMIT_CORE)")
    assert repr(result.value) == "(0, 0)"


def test_a_crashing_cell_gives_back_the_state_before_it(isolated):
    s = isolated(policy="trusted")
    s.run("kept = 'yes'")
    result = s.run("import os, signal\nkept = 'no'\nos.kill(os.getpid(), signal.SIGSEGV)")
    assert isinstance(result.error, IsolationError) and "SIGSEGV" in str(result.error)
    assert repr(s.run("kept").value) == "'yes'"


def test_without_snapshots_a_killed_cell_restarts_the_child(isolated):
    s = isolated(mode="python", cell_timeout=0.3, limits=ChildLimits(snapshots=False, grace_s=0.5))
    s.run("kept = 1")
    result = s.run("total = sum(range(10**13))")
    assert isinstance(result.error, CellTimeout) and "state was lost" in str(result.error)
    assert s.restarts == 1
    assert s.run("kept").error is not None  # a fresh namespace
    assert repr(s.run("1 + 1").value) == "2"


def test_lm_faults_end_the_cell_with_one_error(isolated, lm):
    lm.rules({"match": ["Emulate: lookup("], "fault": {"status": 500}})
    s = isolated()
    s.run("kept = 1")
    result = s.run("v = lookup('a')")
    assert isinstance(result.error, EmulationError) and result.error.line == 1
    assert "v" not in s.describe_names() and "kept" in s.describe_names()


def test_undo_and_names(isolated, lm):
    lm.rules(value_rule("lookup('a')", 5))
    s = isolated()
    s.run("v = 1")
    s.run("v = lookup('a')")
    assert s.describe_names()["v"] == ("int", "5", "value at line 1")
    assert s.undo() == ["v"]
    assert s.describe_names()["v"][1] == "1"


def test_a_hostile_child_cannot_make_the_parent_act(isolated, lm):
    s = isolated(policy="trusted")
    parent_pid = os.getpid()
    forged = textwrap.dedent(
        f"""
        import os, sys, json
        fd = int(sys.argv[2])
        def send(obj):
            os.write(fd, json.dumps(obj).encode() + b"\\n")
        os.write(fd, b"garbage\\n" + b"x" * 100 + b"\\n")
        send({{"op": "started", "pid": {parent_pid}}})
        send({{"op": "started", "pid": 1}})
        send({{"op": "lm", "id": 1, "messages": "not a list", "schema": {{}}, "name": "x"}})
        send({{"op": "done", "has_value": True, "value": "forged",
              "error": {{"type": "SystemExit", "message": "bye"}}}})
        """
    )
    result = s.run(forged)
    # Forged messages about cells are ignored (they lack the cell's number); the malformed LM
    # request is answered with an error and never reaches the LM; garbage lines are dropped.
    assert result.error is None and repr(result.value) == "None"
    assert s.dropped_messages == 2
    assert lm.log() == []
    assert repr(s.run("2 + 2").value) == "4"


def test_record_and_unknown_policy_are_refused():
    with pytest.raises(ConfigError):
        IsolatedSession(Config(record="record", record_path="x.jsonl"))
    with pytest.raises(ConfigError):
        IsolatedSession(Config(), policy="anything")


def test_an_interrupt_stops_a_c_level_loop_within_the_grace_period(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from lmulator.config import Config
            from lmulator.isolation.session import IsolatedSession
            s = IsolatedSession(Config(mode="python"))
            s.run("kept = 7")
            r = s.run("print('looping', flush=True)\\ntotal = sum(range(10**13))")
            print("error:", repr(r.error), flush=True)
            print("kept:", s.run("kept").value, flush=True)
            s.close()
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    lines = LineReader(proc.stdout)
    try:
        assert lines.next().strip() == "looping"
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        error = lines.next(timeout=20)
        elapsed = time.monotonic() - start
        kept = lines.next(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=20)
    assert "KeyboardInterrupt" in error and "killed" in error
    assert elapsed < 2.0 + 1.0  # the grace period, plus the kill and the hand-over
    assert kept.strip() == "kept: 7"


def test_the_isolation_benchmark_prints_its_ratio_last(capsys):
    from lmulator.bench.__main__ import main

    main(["isolation", "--count", "2"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("isolated (with snapshots) vs in-process, median ratio: ")
    assert float(last.rsplit(" ", 1)[1]) > 0


def test_modes_switch_in_the_child_and_unknown_ones_are_refused(isolated, lm):
    lm.rules(value_rule("lookup(1)", 2))
    s = isolated(mode="python")
    assert isinstance(s.run("v = lookup(1)").error, ChildError)  # NameError, not emulated
    s.set_mode("interweave")
    assert repr(s.run("v = lookup(1)\nv").value) == "2"
    with pytest.raises(ConfigError):
        s.set_mode("sometimes")
    assert s.mode == "interweave"


def test_new_settings_reach_the_child_and_record_is_refused(isolated):
    s = isolated(mode="python")
    s.set_config(s.config.with_(cell_timeout=0.3))
    result = s.run("n = 0\nwhile True:\n    n += 1")
    assert isinstance(result.error, CellTimeout) and "killed" not in str(result.error)
    with pytest.raises(ConfigError):
        s.set_config(s.config.with_(record="record", record_path="r.jsonl"))
    assert s.config.cell_timeout == 0.3


def _live_members(pgid):
    """Pids in a process group that are running (zombies left out)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(entry))
    return live


CELLS_AT_PARENT_DEATH = {
    # a C-level loop: the copy running it, and the copy keeping the state before it
    "c loop": ("s.run(\"print('ready', flush=True)\\ntotal = sum(range(10**13))\")", 2),
    # between cells: the one live copy, waiting for the next message
    "idle": ("s.run('x = 1'); print('ready', flush=True); sys.stdin.read()", 1),
}


@pytest.mark.parametrize("moment", list(CELLS_AT_PARENT_DEATH))
def test_the_child_does_not_outlive_a_killed_parent(tmp_path, moment):
    action, copies = CELLS_AT_PARENT_DEATH[moment]
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys\n"
        "from lmulator.config import Config\n"
        "from lmulator.isolation.session import IsolatedSession\n"
        "s = IsolatedSession(Config(mode='python'))\n"
        "print(s._pgid, flush=True)\n" + action + "\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    lines = LineReader(proc.stdout)
    pgid = int(lines.next())
    assert lines.next().strip() == "ready"
    members = _live_members(pgid)
    # (between cells, the copy that kept the state of the last one may still be dying)
    assert copies <= len(members) <= 2
    pidfds = [os.pidfd_open(pid) for pid in members]
    proc.kill()
    proc.wait(timeout=10)
    try:
        deadline = time.monotonic() + 10
        pending = list(pidfds)
        while pending:  # each pidfd turns readable when its process ends
            left = deadline - time.monotonic()
            assert left > 0, f"left running: {_live_members(pgid)}"
            ready, _, _ = select.select(pending, [], [], left)
            pending = [fd for fd in pending if fd not in ready]
    finally:
        for fd in pidfds:
            os.close(fd)
    assert _live_members(pgid) == []


def test_a_child_killed_from_outside_is_replaced_with_a_clear_error(isolated):
    s = isolated(mode="python")
    s.run("kept = 1")
    os.killpg(s._pgid, signal.SIGKILL)
    result = s.run("kept")
    assert isinstance(result.error, IsolationError) and "fresh" in str(result.error)
    assert s.restarts == 1
    assert repr(s.run("1 + 1").value) == "2"


def test_child_errors_are_named_like_the_childs_exception_and_names_stay_bounded():
    from lmulator.isolation import messages as isolation

    err = ChildError.named("ZeroDivisionError", "division by zero", "")
    assert type(err).__name__ == "ZeroDivisionError" and isinstance(err, ChildError)
    assert str(err) == "division by zero"
    assert type(ChildError.named("not a name!", "m", "")).__name__ == "ChildError"
    for i in range(isolation.MAX_ERROR_TYPES + 10):
        ChildError.named(f"Invented{i}", "m", "")
    assert len(isolation._CHILD_ERROR_TYPES) <= isolation.MAX_ERROR_TYPES
