"""The network: TCP, UDP, raw and UNIX sockets, from Python and from raw system calls."""

import pytest

from .os_attack import run_cli

FAMILY = "network"
PAYLOADS = [
    "import socket\ns = socket.create_connection(('127.0.0.1', TCP_PORT))\ns.send(b'x')",
    "import socket\ns = socket.socket(socket.AF_INET6)\ns.connect(('::1', TCP_PORT))",
    "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:TCP_PORT/')",
    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.sendto(b'x', ('127.0.0.1', UDP_PORT))",
    "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('UNIX_PATH')",
    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
    "print('BREACH: raw socket')",
    "import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\nprint('BREACH: packet socket')",
    "import socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
    "print('BREACH: listening on', s.getsockname())",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.syscall(41, 2, 1, 0)\n"
    "print('BREACH: socket syscall' if fd >= 0 else 'held')",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nparams = ctypes.create_string_buffer(120)\n"
    "fd = libc.syscall(425, 8, params)\nprint('BREACH: io_uring' if fd >= 0 else 'held')",
    # sockets the process already holds, turned outwards
    "import socket\nfor fd in range(3, 200):\n    try:\n"
    "        s = socket.socket(fileno=fd)\n    except OSError:\n        continue\n"
    "    try:\n        c = socket.socket(s.family, s.type, fileno=__import__('os').dup(fd))\n"
    "        c.connect(('127.0.0.1', TCP_PORT))\n        print('BREACH: reused fd', fd)\n"
    "    except OSError:\n        pass\n    finally:\n        s.detach()",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_cli_runner_opens_no_connection(target, payload):
    output = run_cli(target, payload)
    assert target.breaches(output) == [], output
