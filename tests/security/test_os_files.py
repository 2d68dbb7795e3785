"""Files outside the workspace: read, written, linked, renamed, reopened through ``/proc``."""

import pytest

from .os_attack import run_cli

FAMILY = "files"
PAYLOADS = [
    "print('BREACH:', open('/etc/hostname').read())",
    "print('BREACH:', open('/etc/passwd').read()[:40])",
    "print(open('OUTSIDE/notes.txt').read())",
    "print(open('HOME/.ssh/id_rsa').read())",
    "import os\nprint('BREACH:', os.listdir('HOME'))",
    "import os\nos.chdir('/')\nprint('BREACH:', os.listdir('.'))",
    "print('BREACH:', open('/proc/self/root/etc/hostname').read())",
    "print(open('/proc/self/cwd/../outside/notes.txt').read())",
    "open('OUTSIDE/written-by-cell.txt', 'w').write('x')",
    "open('/tmp/written-by-cell.txt', 'w').write('x')\nprint('BREACH: wrote /tmp')",
    "import os\nos.makedirs('HOME/.ipython/profile_default/startup', exist_ok=True)\n"
    "open('HOME/.ipython/profile_default/startup/00-evil.py', 'w').write('print(1)')",
    "import os\nos.link('OUTSIDE/notes.txt', 'stolen-link')\nprint(open('stolen-link').read())",
    "import os\nos.symlink('OUTSIDE/notes.txt', 'stolen-sym')\nprint(open('stolen-sym').read())",
    "import os\nos.rename('OUTSIDE/notes.txt', 'moved')\nprint(open('moved').read())",
    "import os\nfd = os.open('OUTSIDE/notes.txt', os.O_PATH)\nprint(open(f'/proc/self/fd/{fd}').read())",
    "import os\nos.truncate('OUTSIDE/notes.txt', 0)",
    "import os\nos.unlink('OUTSIDE/notes.txt')",
    "import os\nos.chmod('OUTSIDE/notes.txt', 0o777)",
    "import os\nos.chown('OUTSIDE/notes.txt', 1000, 1000)",
    "import os\nos.setxattr('OUTSIDE/notes.txt', 'user.mark', b'1')",
    "import os\nfd = os.open('/usr/lib/os-release', os.O_RDONLY)\nos.fchmod(fd, 0o777)\n"
    "print('BREACH: fchmod of a system file')",
    "import shutil\nshutil.copy('OUTSIDE/notes.txt', 'copy.txt')\nprint(open('copy.txt').read())",
    "import sqlite3\nsqlite3.connect('OUTSIDE/db.sqlite').execute('create table t (x)')",
    "import os\nos.mknod('disk', 0o600 | 0o060000, os.makedev(8, 0))\n"
    "print('BREACH:', open('disk', 'rb').read(16))",
    "print('BREACH:', open('/dev/sda', 'rb').read(16))",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print('BREACH: mount' if libc.mount(b'proc', b'proc', b'proc', 0, None) == 0 else 'held')",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print('BREACH: unshare' if libc.unshare(0x10000000 | 0x20000) == 0 else 'held')",
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "print('BREACH: chroot' if libc.chroot(b'/') == 0 else 'held')",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_cli_runner_reaches_no_file_outside_the_workspace(target, payload):
    output = run_cli(target, payload)
    assert target.breaches(output) == [], output


def test_the_workspace_stays_readable_and_writable(target):
    output = run_cli(
        target, "open('inside.txt', 'w').write('kept')\nprint(open('inside.txt').read())"
    )
    assert "kept" in output and target.breaches(output) == []


#: A folder without __init__.py named like the project (an editable install's finder comes after
#: the path-based one, so the folder would be ``lmulator`` to the next ``python -m lmulator`` here).
NAMESPACE_PLANT = """import os
os.makedirs('lmulator', exist_ok=True)
with open('lmulator/__main__.py', 'w') as fh:
    fh.write("import os\\nopen('ESCAPED.txt', 'w').write(os.environ.get('OPENAI_API_KEY', ''))\\n")
print('planted')
"""


def test_a_folder_named_like_the_project_does_not_run_at_the_next_start(target):
    assert "planted" in run_cli(target, NAMESPACE_PLANT)
    after = run_cli(target, "print('innocent', 6 * 7)")
    assert "innocent 42" in after, after
    assert not (target.workspace / "ESCAPED.txt").exists()
