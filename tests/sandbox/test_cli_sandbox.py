"""``python -m lmulator run`` as the broker of a confined runner."""

import os
import select
import signal
import subprocess
import sys
import time

from lmulator.testing import value_rule

from ..test_cli import PACKAGE_FILE, run_cli
from .helpers import NO_LANDLOCK

READ_HOSTNAME = "print(len(open('/etc/hostname').read()) > 0)\n"


def test_the_program_runs_confined_and_its_lm_requests_reach_the_lm(lm, tmp_path):
    lm.rules(value_rule("get_country('Paris')", "France"))
    program = tmp_path / "p.py"
    program.write_text("print(get_country('Paris'))\nn = open('out.txt', 'w').write('inside')\n")
    proc = run_cli("run", str(program), "--no-listing", "--policy", "trusted", cwd=str(tmp_path),
                   env_extra={"OPENAI_BASE_URL": lm.base_url, "OPENAI_API_KEY": "sk-x"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "France\n" and (tmp_path / "out.txt").read_text() == "inside"


def test_sandbox_off_runs_unconfined(tmp_path):
    program = tmp_path / "p.py"
    program.write_text(READ_HOSTNAME)
    confined = run_cli("run", str(program), "--policy", "trusted", "--mode", "python")
    assert confined.returncode == 1 and "PermissionError" in confined.stderr
    free = run_cli("run", str(program), "--policy", "trusted", "--sandbox", "off")
    assert free.returncode == 0 and free.stdout == "True\n"


def test_a_bad_sandbox_setting_is_one_clear_error(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("1\n")
    proc = run_cli("run", str(program), "--sandbox", "loose")
    assert proc.returncode == 2 and proc.stderr.startswith("lmulator: error: unknown sandbox mode")


def _no_landlock_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    return subprocess.run([sys.executable, str(NO_LANDLOCK), "-m", "lmulator", *args],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip


def test_without_landlock_the_program_runs_and_says_once_it_is_not_confined(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("print('ran')\n")
    proc = _no_landlock_cli("run", str(program), "--mode", "python")
    assert proc.returncode == 0 and proc.stdout == "ran\n"
    assert proc.stderr.count("NOT confined") == 1


def test_without_landlock_a_required_sandbox_refuses_to_run(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("print('ran')\n")
    proc = _no_landlock_cli("run", str(program), "--sandbox", "required")
    assert proc.returncode == 2 and "ran" not in proc.stdout
    assert "the sandbox is required but this system has no Landlock" in proc.stderr


def test_a_c_level_loop_past_its_time_limit_is_ended_by_the_broker(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("sum(range(10**14))\n")
    start = time.monotonic()
    proc = run_cli("run", str(program), "--mode", "python", "--timeout", "1")
    assert time.monotonic() - start < 20
    assert proc.returncode == 1
    assert "the program ran past its 1 s limit and was killed" in proc.stderr


def test_a_swallowed_time_limit_ends_the_program_in_the_engine(tmp_path):
    program = tmp_path / "p.py"
    program.write_text(
        "while True:\n    try:\n        pass\n    except BaseException:\n        pass\n"
    )
    proc = run_cli("run", str(program), "--mode", "python", "--timeout", "1")
    assert proc.returncode == 1 and "CellTimeout" in proc.stderr
    assert "was killed" not in proc.stderr  # the engine stopped it; the broker did not have to


def test_an_interrupt_reaches_the_program_through_the_broker(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("print('started', flush=True)\nwhile True:\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    proc = subprocess.Popen([sys.executable, "-m", "lmulator", "run", str(program), "--mode",
                             "python"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)  # fmt: skip
    assert select.select([proc.stdout], [], [], 30)[0], "the runner never said it started"
    assert proc.stdout.readline() == "started\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and err.splitlines()[-1] == "KeyboardInterrupt", err
    assert f'File "{program}", line ' in err  # where it stopped: the program's frames only
    assert not PACKAGE_FILE.search(err)


def test_a_program_cannot_type_into_the_terminal_it_inherited(tmp_path):
    import pty

    program = tmp_path / "p.py"
    program.write_text(
        "import fcntl, termios\ntry:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n"
        "    print('injected')\nexcept OSError as e:\n    print('refused', e.errno)\n"
    )
    master, slave = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
        proc = subprocess.run([sys.executable, "-m", "lmulator", "run", str(program), "--mode",
                               "python", "--policy", "trusted"], stdin=slave,
                              capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    finally:
        os.close(master)
        os.close(slave)
    assert proc.stdout == "refused 1\n", proc.stdout + proc.stderr
