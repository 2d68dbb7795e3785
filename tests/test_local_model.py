"""The embedded model: the real llama.cpp server with the real SmolLM2 file."""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

from lmulator.config import Config
from lmulator.executor import Session

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def embedded():
    """One session on the embedded model for this module (its server starts on first use)."""
    return Session(Config(cache="off"))


def test_engine_gets_a_schema_valid_value(embedded):
    result = embedded.run("country = get_country('Rome')\ncountry")
    assert result.error is None, result.error
    assert isinstance(result.value, str) and result.value
    assert result.emulated[0].how == "lm"


def test_typed_contexts_get_typed_values(embedded):
    result = embedded.run(
        "def count_words(s: str) -> int:\n    '''How many words s has.'''\n"
        "n = count_words('the red car')\n"
        "flag = bool(is_fruit('apple'))\n"
        "if is_fruit('pear'):\n    kind = 'fruit'\nelse:\n    kind = 'other'\n"
        "n, kind"
    )
    assert result.error is None, result.error
    n, kind = result.value
    assert isinstance(n, int) and not isinstance(n, bool)
    assert kind in ("fruit", "other")
    assert embedded.emulator.first_try_valid == embedded.emulator.replies_checked


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            state = next(line for line in fh if line.startswith("State:"))
    except FileNotFoundError:
        return False
    return "Z" not in state.split()[1]


def _wait_gone(pid: int, timeout: float = 15.0) -> bool:
    """Block until the process exits (a pidfd turns readable), or the timeout passes."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    return bool(readable)


OWNER = textwrap.dedent(
    """
    import sys
    from lmulator.local_model import ensure_server
    server = ensure_server()
    print(server.process.pid, flush=True)
    if sys.argv[1] == "wait":
        sys.stdin.readline()
    """
)


@pytest.mark.parametrize("how", ["exits", "is killed"])
def test_server_does_not_outlive_its_owner(how):
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, "wait" if how == "is killed" else "exit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    server_pid = int(owner.stdout.readline())
    assert _alive(server_pid)
    if how == "is killed":
        os.kill(owner.pid, signal.SIGKILL)
    owner.wait(timeout=30)
    owner.stdout.close()
    owner.stdin.close()
    assert _wait_gone(server_pid), f"server {server_pid} outlived its owner"
