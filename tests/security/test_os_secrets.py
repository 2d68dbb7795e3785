"""The API key: in the runner's environment, in the broker's ``/proc``, in memory."""

import pytest

from .os_attack import run_cli

FAMILY = "secrets"
PAYLOADS = [
    "import os\nprint(os.environ.get('OPENAI_API_KEY'), dict(os.environ))",
    "print(open('/proc/self/environ', 'rb').read())",
    "import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())",
    "import os\nprint(open(f'/proc/self/../{os.getppid()}/environ', 'rb').read())",
    "import os\nprint(open(f'/proc/thread-self/../../{os.getppid()}/environ', 'rb').read())",
    "print(open('/proc/1/environ', 'rb').read())",
    "import os\nfor pid in range(1, os.getpid() + 200):\n"
    "    try:\n        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
    "    except OSError:\n        pass",
    "import os\nprint(os.listdir('/proc'))",
    "import os\nf = open(f'/proc/{os.getppid()}/mem', 'rb')\nprint('BREACH: opened', f)",
    "import os\nprint(os.readlink(f'/proc/{os.getppid()}/cwd'), 'BREACH: read a link')",
    # the key anywhere in the runner's own memory
    "import re\nfound = set()\nmem = open('/proc/self/mem', 'rb')\n"
    "for line in open('/proc/self/maps'):\n"
    "    addr, perms = line.split()[:2]\n"
    "    if not perms.startswith('r') or '[v' in line:\n        continue\n"
    "    lo, hi = (int(x, 16) for x in addr.split('-'))\n"
    "    if hi - lo > 1 << 28:\n        continue\n"
    "    try:\n        mem.seek(lo)\n        found.update(re.findall(rb'sk-canary-[0-9a-f]+', mem.read(hi - lo)))\n"
    "    except OSError:\n        pass\n"
    "print(found)",
    "import gc\nprint([v for o in gc.get_objects() if isinstance(o, dict) "
    "for v in list(o.values()) if isinstance(v, str) and v.startswith('sk-')])",
    # another process that reads it for us
    "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', "
    '\'import os; print(os.environ.get("OPENAI_API_KEY"), open("/proc/%d/environ" % os.getppid()).read())\'],'
    " capture_output=True, text=True))",
    "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print('BREACH: ptrace' if libc.ptrace(16, os.getppid(), 0, 0) == 0 else 'held')",
    "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "buf = ctypes.create_string_buffer(64)\n"
    "class IOV(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
    "local = IOV(ctypes.cast(buf, ctypes.c_void_p), 64)\nremote = IOV(0x400000, 64)\n"
    "n = libc.process_vm_readv(os.getppid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)\n"
    "print('BREACH: process_vm_readv' if n > 0 else 'held')",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_cli_runner_never_sees_the_key(target, payload):
    output = run_cli(target, payload)
    assert target.breaches(output) == [], output
