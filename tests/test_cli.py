"""``python -m lmulator run``, as a user runs it."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from lmulator.testing import value_rule

EXAMPLE = """\
places = ["Paris", "Rome", "Lyon", "Paris"]
countries = set()
for place in places:
    countries.add(get_country(place))
print("distinct countries:", len(countries))
"""
# A frame of our own packages' files in a traceback.
PACKAGE_FILE = re.compile(r"\b(lmulator|cockernel)/[\w/]*\.py")


def run_cli(*args, env_extra=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env["LMULATOR_CACHE"] = "off"
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "lmulator", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
    )


def test_running_example_under_the_cli(lm, tmp_path):
    lm.rules(
        value_rule("get_country('Paris')", "France"),
        value_rule("get_country('Rome')", "Italy"),
        value_rule("get_country('Lyon')", "France"),
    )
    program = tmp_path / "coc.py"
    program.write_text(EXAMPLE)
    trace = tmp_path / "trace.json"
    proc = run_cli("run", str(program), "--base-url", lm.base_url, "--trace-json", str(trace))
    assert proc.returncode == 0, proc.stderr
    assert "distinct countries: 2" in proc.stdout
    listing = proc.stdout.split("── emulated lines")[1]
    flagged = [line for line in listing.splitlines() if line.startswith("~")]
    assert len(flagged) == 1 and flagged[0].startswith("~ 4 │")
    assert "get_country('Paris') → 'France'" in " ".join(p.strip() for p in listing.splitlines())
    assert len(lm.log()) == 3
    records = json.loads(trace.read_text())
    assert [r["value"] for r in records] == ["France", "Italy", "France", "France"]
    assert all(r["line"] == 4 and r["status"] == "emulated" and "ms" in r for r in records)


def test_environment_configures_the_endpoint(lm, tmp_path):
    lm.rules(value_rule("oracle()", 42))
    program = tmp_path / "p.py"
    program.write_text("print(oracle())\n")
    proc = run_cli("run", str(program), env_extra={"OPENAI_BASE_URL": lm.base_url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("42\n")


def test_program_error_exits_one_with_its_own_traceback(tmp_path):
    program = tmp_path / "bad.py"
    program.write_text("def f():\n    return 1 / 0\nf()\n")
    proc = run_cli("run", str(program), "--mode", "python")
    assert proc.returncode == 1
    assert "ZeroDivisionError: division by zero" in proc.stderr
    assert "lmulator" not in proc.stderr.replace(str(program), "")


def test_bad_config_is_one_clear_line(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("x = 1\n")
    proc = run_cli("run", str(program), env_extra={"LMULATOR_MODE": "bogus"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "lmulator: error: unknown mode 'bogus' (choose from interweave, python, lm, "
        "try-python-except-lm, try-python-except-lm-state)"
    ]
    proc = run_cli("run", str(tmp_path / "missing.py"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_endpoint_is_one_line(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("x = oracle()\n")
    proc = run_cli("run", str(program), "--base-url", "http://127.0.0.1:9/v1", "--no-listing")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    # At most a progress line while the client retries, then one error line.
    assert lines[-1] == "EmulationError: line 1: cannot reach the LM at http://127.0.0.1:9/v1"
    assert all(line.startswith("⋯ emulating line 1") for line in lines[:-1])


def test_full_trace_records_every_statement(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("total = 0\nfor i in range(3):\n    total += i\n")
    trace = tmp_path / "t.json"
    proc = run_cli(
        "run", str(program), "--mode", "python", "--trace", "full", "--trace-json", str(trace)
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(trace.read_text())
    ran_lines = [r["line"] for r in records if r["status"] == "ran"]
    # The loop header counts each time a branch of it starts (each pass, then its end).
    assert ran_lines == [1, 2, 3, 2, 3, 2, 3, 2]
    assert records[0]["bindings"] == {"total": "0"}
    assert records[2]["bindings"] == {"total": "0"}  # total += 0 in the first pass


def test_isolate_kills_a_c_level_loop_at_the_time_limit(tmp_path):
    import subprocess
    import sys

    program = tmp_path / "loop.py"
    program.write_text("print('before')\ntotal = sum(range(10**13))\n")
    proc = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", str(program), "--isolate", "--timeout", "0.5",
         "--mode", "python", "--no-listing"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout.startswith("before")
    assert "CellTimeout" in proc.stderr and "killed" in proc.stderr


def test_a_program_that_raises_system_exit_ends_as_python_ends(tmp_path):
    program = tmp_path / "p.py"
    for body, status, err in (("raise SystemExit(3)", 3, ""), ("raise SystemExit('bye')", 1, "bye\n"),
                              ("print('x')\nraise SystemExit", 0, "")):  # fmt: skip
        program.write_text(body + "\nprint('not reached')\n")
        proc = run_cli("run", str(program), "--mode", "python")
        assert proc.returncode == status and "not reached" not in proc.stdout, proc.stderr
        assert proc.stderr == err


@pytest.mark.parametrize("extra", [[], ["--isolate"], ["--policy", "trusted"]])
def test_a_script_knows_its_own_path_and_that_it_is_main(tmp_path, extra):
    script = tmp_path / "where.py"
    script.write_text("print(__name__, __file__)\n")
    out = run_cli("run", str(script), "--mode", "python", *extra, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == f"__main__ {script}"


@pytest.mark.parametrize("mode", ["python", "interweave"])
def test_a_time_limit_shows_the_programs_frames_only(tmp_path, mode):
    program = tmp_path / "spin.py"
    program.write_text("def spin():\n    while True:\n        pass\n\nspin()\n")
    proc = run_cli("run", str(program), "--mode", mode, "--timeout", "0.5", "--no-listing")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "CellTimeout: the cell ran longer than its 0.5 s limit"
    assert f'File "{program}", line 5, in <module>' in proc.stderr
    assert ", line 2, in spin" in proc.stderr
    assert not PACKAGE_FILE.search(proc.stderr), proc.stderr


def test_an_interrupt_shows_the_programs_frames_only(lm, tmp_path):
    lm.rules({"match": ["Emulate: slow("], "reply": {"value": 1}, "fault": {"delay": 30}})
    program = tmp_path / "p.py"
    program.write_text("print('started', flush=True)\nfor i in range(3):\n    x = slow(i)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmulator", "run", str(program), "--sandbox", "off",
         "--base-url", lm.base_url, "--no-cache", "--no-listing"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert select.select([proc.stdout], [], [], 30)[0], "the program never started"
        assert proc.stdout.readline() == "started\n"
        deadline = time.monotonic() + 20
        while not lm.log():  # interrupted while its LM request is in flight
            assert time.monotonic() < deadline, "the LM request never arrived"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.splitlines()[-1] == "KeyboardInterrupt", err
    assert f'File "{program}", line 3, in <module>' in err and "x = slow(i)" in err
    assert not PACKAGE_FILE.search(err), err


def test_an_undecodable_replay_file_is_named_on_one_line(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("x = f(1)\n")
    replay = tmp_path / "p.lmreplay.jsonl"
    replay.write_bytes(b'{"key": "\xff"}\n')
    proc = run_cli("run", str(program), "--replay")
    assert proc.returncode == 2
    assert proc.stderr == f"lmulator: error: replay file {replay} is not UTF-8 text\n"


@pytest.mark.parametrize(
    ("body", "last"),
    [
        ("x = 1\ny = eval('1')\n", "PolicyViolation: Line 2: eval() calls are not allowed."),
        ("x = 1\nimport os\n", "ImportRefused: import of 'os' is not allowed by the policy"),
    ],
)
def test_a_refusal_prints_no_listing_where_nothing_was_emulated(tmp_path, body, last):
    program = tmp_path / "p.py"
    program.write_text(body)
    proc = run_cli("run", str(program), "--base-url", "http://127.0.0.1:9/v1")
    assert proc.returncode == 1
    assert proc.stdout == ""  # no "emulated lines" listing
    assert proc.stderr.splitlines()[-1].startswith(last), proc.stderr


def test_the_help_says_what_the_trace_level_is_for():
    help_text = " ".join(run_cli("run", "--help").stdout.split())
    assert "what --trace-json records: full adds every statement that ran" in help_text
