"""The CLI in its sandbox: the world fails as in Python, a masked bug is named on stderr."""

import sys
from pathlib import Path

import pytest

from lmulator.testing import delta_rule

from .test_cli import run_cli

OUTSIDE = "/etc/hostname"
WRITTEN = Path("/tmp/lmulator-outside-test.txt")  # outside the workspace (tmp_path)
PROGRAMS = {
    "read outside": f"data = open({OUTSIDE!r}).read()\nprint('read', data)\n",
    "missing file": "data = open('missing.txt').read()\nprint('read', data)\n",
    "url": "import urllib.request\npage = urllib.request.urlopen('http://example.com').read()[:50]\n",
    "write outside": f"f = open('{WRITTEN}', 'w')\nprint('wrote')\n",
}
# What each raises under the default (restricted) policy, and under the trusted one in the box.
RESTRICTED = {
    "read outside": "NameError: name 'open' is not defined",
    "missing file": "NameError: name 'open' is not defined",
    "url": "ImportRefused: import of 'urllib.request' is not allowed",
    "write outside": "NameError: name 'open' is not defined",
}
TRUSTED = {
    "read outside": ("PermissionError: [Errno 13]", "the sandbox refused this path"),
    "missing file": ("FileNotFoundError: [Errno 2]", None),
    "url": ("URLError", "the sandbox gives the program no network"),
    "write outside": ("PermissionError: [Errno 13]", "write only"),
}


def _run(tmp_path, lm, name, *args):
    program = tmp_path / "prog.py"
    program.write_text(PROGRAMS[name])
    return run_cli("run", str(program), "--base-url", lm.base_url, *args)


def _printed(proc) -> str:
    """What the program printed (the listing of emulated lines left out)."""
    return proc.stdout.split("── emulated lines")[0]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_by_default_the_world_raises_and_the_lm_is_never_asked(tmp_path, lm, name):
    proc = _run(tmp_path, lm, name)
    assert proc.returncode == 1
    assert RESTRICTED[name] in proc.stderr
    assert _printed(proc).strip() == ""
    assert lm.log() == []


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux's")
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_under_the_trusted_policy_the_box_refuses_and_says_what_it_allows(tmp_path, lm, name):
    WRITTEN.unlink(missing_ok=True)
    proc = _run(tmp_path, lm, name, "--policy", "trusted")
    error, note = TRUSTED[name]
    assert proc.returncode == 1, proc.stdout
    assert error in proc.stderr
    if note is not None:
        assert note in proc.stderr and "--sandbox or LMULATOR_SANDBOX" in proc.stderr
    assert _printed(proc).strip() == ""
    assert lm.log() == []
    assert not WRITTEN.exists()


def test_with_emulate_io_a_missing_file_is_invented_and_marked_apart(tmp_path, lm):
    lm.rules(delta_rule("data = open('missing.txt').read()", {"data": "made up"}))
    proc = _run(tmp_path, lm, "missing file", "--policy", "trusted", "--emulate-io")
    assert proc.returncode == 0, proc.stderr
    assert _printed(proc).strip() == "read made up"
    listing = proc.stdout.split("── emulated lines")[1]
    assert "? 1 │ data = open('missing.txt').read()" in listing
    assert "invented: the operation did not run" in " ".join(listing.split())
    assert (
        "invented a result for FileNotFoundError at line 1: [Errno 2] No such file or directory: "
        "'missing.txt'; invented: the operation did not run; without --emulate-io it raises"
    ) in proc.stderr
    assert len(lm.log()) == 1


BUG = 'total = 4\nprint("adding")\n\ntotal = total + "3"\nprint("total:", total)\ntotal\n'
SUMMARY = (
    "masked TypeError at line 4: unsupported operand type(s) for +: 'int' and 'str'; "
    "--raise-errors to stop there"
)


def test_a_masked_type_error_is_named_on_stderr_and_the_result_is_marked(tmp_path, lm):
    lm.rules(delta_rule('total = total + "3"', {"total": 7}))
    program = tmp_path / "bug.py"
    program.write_text(BUG)
    proc = run_cli("run", str(program), "--base-url", lm.base_url)
    assert proc.returncode == 0, proc.stderr
    assert "total: 7" in proc.stdout
    result_line = proc.stdout.rstrip().splitlines()[-1]
    assert result_line.startswith("7    ~ emulated: the LM supplied this value")
    assert SUMMARY in proc.stderr.splitlines()


def test_raise_errors_stops_at_the_type_error(tmp_path, lm):
    lm.rules(delta_rule('total = total + "3"', {"total": 7}))
    program = tmp_path / "bug.py"
    program.write_text(BUG)
    proc = run_cli("run", str(program), "--base-url", lm.base_url, "--raise-errors")
    assert proc.returncode == 1
    assert "TypeError: unsupported operand type(s) for +: 'int' and 'str'" in proc.stderr
    assert "masked" not in proc.stderr and "total: 7" not in proc.stdout
    assert lm.log() == []


def test_the_environment_switches_raise_errors_on(tmp_path, lm):
    program = tmp_path / "bug.py"
    program.write_text(BUG)
    proc = run_cli(
        "run", str(program), "--base-url", lm.base_url, env_extra={"LMULATOR_RAISE_ERRORS": "on"}
    )
    assert proc.returncode == 1 and "TypeError" in proc.stderr and lm.log() == []
    bad = run_cli("run", str(program), env_extra={"LMULATOR_RAISE_ERRORS": "maybe"})
    assert bad.returncode == 2
    assert "LMULATOR_RAISE_ERRORS must be on or off, got 'maybe'" in bad.stderr


def test_an_isolated_run_names_the_masked_error_and_marks_its_result(tmp_path, lm):
    lm.rules(delta_rule('total = total + "3"', {"total": 7}))
    program = tmp_path / "bug.py"
    program.write_text(BUG)
    proc = run_cli("run", str(program), "--base-url", lm.base_url, "--isolate")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1].startswith("7    ~ emulated")
    assert SUMMARY in proc.stderr.splitlines()


def test_an_isolated_child_keeps_emulate_io_off_and_on(tmp_path, lm):
    lm.rules(delta_rule("data = open('missing.txt').read()", {"data": "made up"}))
    for args, status in (((), 1), (("--emulate-io",), 0)):
        proc = _run(tmp_path, lm, "missing file", "--policy", "trusted", "--isolate", *args)
        assert proc.returncode == status, proc.stderr
    assert len(lm.log()) == 1
