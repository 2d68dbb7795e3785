"""Other processes: signals, tracing, other programs, namespaces."""

import pytest

from .os_attack import run_cli

FAMILY = "processes"
PAYLOADS = [
    "import os, signal\nos.kill(VICTIM, signal.SIGKILL)",
    "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\nprint('BREACH: stopped the broker')",
    "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.syscall(434, VICTIM, 0)\n"
    "print('BREACH: pidfd signal' if fd >= 0 and libc.syscall(424, fd, 9, None, 0) == 0 else 'held')",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print('BREACH: ptrace' if libc.ptrace(16, VICTIM, 0, 0) == 0 else 'held')",
    "import subprocess\nprint(subprocess.run(['/bin/sh', '-c', 'echo BREACH: shell'], capture_output=True,"
    " text=True).stdout)",
    "import os\nos.system('echo BREACH: system')",
    "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo BREACH: exec'])",
    "import os\nos.execv('/lib64/ld-linux-x86-64.so.2', ['ld', '/bin/sh', '-c', 'echo BREACH: ld.so'])"
    if __import__("platform").machine() == "x86_64"
    else "print('held')",
    "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', "
    "'import os, signal; os.kill(VICTIM, signal.SIGKILL)'], capture_output=True))",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_cli_runner_touches_no_other_process(target, payload):
    output = run_cli(target, payload)
    assert target.breaches(output) == [], output
