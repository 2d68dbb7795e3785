"""Confinement of one process, tried for real in fresh interpreters (it cannot be undone)."""

import sys

import pytest

from lmulator.errors import ConfigError
from lmulator.sandbox import SandboxSpec, parse_sandbox, sandbox_from_env
from lmulator.sandbox.landlock import abi_version
from lmulator.sandbox.seccomp import build_filter

from .helpers import probe, run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Landlock and seccomp are Linux's")

CONFINE = """
import json, os, sys
from lmulator.sandbox import SandboxSpec, confine
spec = SandboxSpec.from_json(sys.argv[1] if len(sys.argv) > 1 else {spec!r})
result = confine(spec)
def can(f):
    try:
        f()
        return True
    except OSError:
        return False
"""


def confined(spec: SandboxSpec, checks: str, **kwargs: object) -> dict[str, object]:
    return probe(CONFINE.format(spec=spec.to_json()) + checks, **kwargs)  # type: ignore[arg-type]


def test_this_machine_has_landlock():
    assert abi_version() >= 4  # TCP rules; the machines this project runs on have 7


def test_the_workspace_is_written_and_nothing_else(tmp_path):
    ws, other = tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    (other / "f").write_text("x")
    out = confined(
        SandboxSpec(workspace=str(ws)),
        f"print(json.dumps({{'ws': can(lambda: open({str(ws / 'a')!r}, 'w').write('1')),"
        f" 'other_read': can(lambda: open({str(other / 'f')!r}).read()),"
        f" 'other_write': can(lambda: open({str(other / 'b')!r}, 'w')),"
        f" 'stdlib': can(lambda: __import__('decimal')), 'confined': result.confined,"
        f" 'syscalls': result.syscalls}}))",
    )
    assert out == {"ws": True, "other_read": False, "other_write": False, "stdlib": True,
                   "confined": True, "syscalls": True}  # fmt: skip


def test_read_only_mode_reads_the_workspace_but_does_not_write_it(tmp_path):
    (tmp_path / "data.txt").write_text("kept")
    out = confined(
        SandboxSpec(mode="read-only", workspace=str(tmp_path)),
        f"print(json.dumps({{'read': open({str(tmp_path / 'data.txt')!r}).read(),"
        f" 'write': can(lambda: open({str(tmp_path / 'new')!r}, 'w'))}}))",
    )
    assert out == {"read": "kept", "write": False}


def test_extra_paths_and_the_private_temporary_directory(tmp_path):
    ws, extra, tmp = (tmp_path / n for n in ("ws", "extra", "tmp"))
    for d in (ws, extra, tmp):
        d.mkdir()
    (extra / "in.txt").write_text("readable")
    spec = SandboxSpec(workspace=str(ws), read=(str(extra),), tmpdir=str(tmp))
    out = confined(
        spec,
        f"print(json.dumps({{'extra': open({str(extra / 'in.txt')!r}).read(),"
        f" 'extra_write': can(lambda: open({str(extra / 'x')!r}, 'w')),"
        f" 'tmp': can(lambda: open({str(tmp / 'x')!r}, 'w'))}}))",
    )
    assert out == {"extra": "readable", "extra_write": False, "tmp": True}


def test_a_home_directory_is_never_opened_as_the_workspace(tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret")
    out = confined(
        SandboxSpec(workspace=str(home)),
        f"print(json.dumps({{'key': can(lambda: open({str(home / '.ssh' / 'id_rsa')!r}).read())}}))",
        env={"HOME": str(home)},
    )
    assert out == {"key": False}


def test_confining_after_threads_started_is_refused():
    proc = run_python(
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "from lmulator.sandbox import SandboxSpec, confine, SandboxError\n"
        "try:\n    confine(SandboxSpec())\nexcept SandboxError as e:\n    print('refused:', e)\n"
    )
    assert "refused: confine() must be called before the process starts threads" in proc.stdout


def test_without_landlock_confinement_is_reported_not_faked():
    out = probe(
        "import json\nfrom lmulator.sandbox import SandboxSpec, confine\n"
        "r = confine(SandboxSpec())\nprint(json.dumps([r.confined, r.describe()]))",
        no_landlock=True,
    )
    assert out[0] is False and "NOT confined" in out[1] and "no Landlock" in out[1]


def test_without_landlock_a_required_sandbox_refuses():
    proc = run_python(
        "from lmulator.sandbox import SandboxSpec, confine, SandboxUnavailable\n"
        "try:\n    confine(SandboxSpec(required=True))\n"
        "except SandboxUnavailable as e:\n    print('unavailable:', e)",
        no_landlock=True,
    )
    assert "unavailable: the sandbox is required but this system has no Landlock" in proc.stdout


def test_the_filter_checks_the_architecture_first():
    prog = build_filter("x86_64")
    assert prog[0] == (0x20, 0, 0, 4) and prog[1][3] == 0xC000003E
    assert all(code != 0x06 or k in (0x7FFF0000,) or k >> 16 == 0x5 for code, _, _, k in prog)
    jumps = [(i, jt, jf) for i, (code, jt, jf, _) in enumerate(prog) if code & 0x07 == 0x05]
    assert jumps and all(i + 1 + max(jt, jf) < len(prog) for i, jt, jf in jumps)
    assert prog[-1] == (0x06, 0, 0, 0x00050001)  # what the list does not name is refused (EPERM)


def run_filter(prog, nr, args=(0, 0, 0, 0, 0, 0), arch=0xC000003E):
    """What the classic BPF program answers for one system call (a small interpreter)."""
    data = {0: nr, 4: arch}
    for i, value in enumerate(args):
        data[16 + 8 * i], data[20 + 8 * i] = value & 0xFFFFFFFF, value >> 32
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:
            acc = data[k]
        elif code == 0x54:
            acc &= k
        elif code == 0x06:
            return k
        elif code == 0x05:
            pc += k
        else:
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        pc += 1


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_filter_answers_each_call_as_the_lists_say(machine):
    """Every number from 0 past the reviewed ones, through the compiled search."""
    from lmulator.sandbox import seccomp
    from lmulator.sandbox.syscalls import REVIEWED_UP_TO

    table = {"x86_64": seccomp.X86_64, "aarch64": seccomp.AARCH64}[machine]
    arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}[machine]
    prog = build_filter(machine)
    allowed = {table[n] for n in (*seccomp.ALLOWED, *seccomp.SCHEDULING_READS) if n in table}
    checked = {table[n]: n for n in seccomp.CHECKED if n in table}
    for nr in range(REVIEWED_UP_TO + 50):
        answer = run_filter(prog, nr, arch=arch)
        if nr in allowed:
            assert answer == seccomp.RET_ALLOW, nr
        elif nr > REVIEWED_UP_TO or checked.get(nr) == "clone3":
            assert answer == seccomp.TOO_NEW, nr
        elif nr not in checked:
            assert answer == seccomp.DENY, nr
    assert run_filter(prog, table["read"], arch=0x40000003) == seccomp.DENY  # another ABI
    setpriority, prlimit = table["setpriority"], table["prlimit64"]
    assert run_filter(prog, setpriority, (0, 0, 10), arch=arch) == seccomp.RET_ALLOW
    assert run_filter(prog, setpriority, (0, 0, 2**32 - 5), arch=arch) == seccomp.DENY  # -5
    assert run_filter(prog, setpriority, (0, 1234, 10), arch=arch) == seccomp.DENY
    assert run_filter(prog, prlimit, (1234, 7, 0, 0), arch=arch) == seccomp.DENY
    assert run_filter(prog, prlimit, (0, 7, 0, 0), arch=arch) == seccomp.RET_ALLOW
    affinity = table["sched_setaffinity"]
    assert run_filter(prog, affinity, (0, 8, 1), arch=arch) == seccomp.RET_ALLOW
    assert run_filter(prog, affinity, (4321, 8, 1), arch=arch) == seccomp.NOOP  # does nothing
    policy = table["sched_setscheduler"]
    assert run_filter(prog, policy, (0, 1, 0), arch=arch) == seccomp.DENY  # SCHED_FIFO
    assert run_filter(prog, policy, (4321, 1, 0), arch=arch) == seccomp.NOOP
    sendto = table["sendto"]
    assert run_filter(prog, sendto, (3, 0, 1, 0, 0, 0), arch=arch) == seccomp.RET_ALLOW
    assert run_filter(prog, sendto, (3, 0, 1, 0, 0x7FFF0000, 16), arch=arch) == seccomp.DENY


def test_the_filter_allows_only_what_it_names():
    """No call is allowed unless it is on the list, and the list holds no call that reaches
    outside the box unchecked."""
    from lmulator.sandbox import seccomp

    for name in ("socket", "connect", "setsid", "shmget", "execve", "ptrace", "mount", "chmod",
                 "file_setattr", "unshare", "sendmmsg", "mq_open", "process_madvise"):  # fmt: skip
        assert name not in seccomp.ALLOWED and name not in seccomp.CHECKED
    for name in ("prlimit64", "setpriority", "sched_setaffinity", "ioprio_set"):
        assert name in seccomp.RULES and name not in seccomp.ALLOWED
    assert set(seccomp.CHECKED) - {"clone3"} == set(seccomp.RULES)


@pytest.mark.parametrize(
    ("text", "mode", "required"),
    [("workspace", "workspace", False), ("read-only", "read-only", False), ("off", "off", False),
     ("required", "workspace", True), ("read-only,required", "read-only", True)],
)  # fmt: skip
def test_sandbox_settings_parse(text, mode, required):
    spec = parse_sandbox(text)
    assert (spec.mode, spec.required) == (mode, required)


@pytest.mark.parametrize("text", ["", "loose", "off,required", "workspace,nope"])
def test_bad_sandbox_settings_are_one_clear_error(text):
    with pytest.raises(ConfigError, match="sandbox"):
        parse_sandbox(text)


def test_sandbox_from_the_environment(tmp_path):
    spec = sandbox_from_env(
        {"LMULATOR_SANDBOX": "read-only", "LMULATOR_SANDBOX_WRITE": f"{tmp_path}:/srv/data"}
    )
    assert spec.mode == "read-only" and spec.write == (str(tmp_path), "/srv/data")
    assert SandboxSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ConfigError):
        SandboxSpec.from_json('{"mode": "workspace"}')
