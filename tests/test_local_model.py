"""The embedded models: the real llama.cpp server with the real files (the suite's default is
the small SmolLM2; the default model, Qwen2.5-Coder-1.5B, has a test of its own)."""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session

from .lines import LineReader

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


def test_the_default_model_knows_its_countries(tmp_path):
    """Qwen2.5-Coder-1.5B, in its own process (the server is per process and per model)."""
    code = (
        "from lmulator.config import Config\nfrom lmulator.engine.session import Session\n"
        "s = Session(Config(cache='off'))\n"
        "r = s.run(\"[get_country(c) for c in ('Lyon', 'Tokyo', 'Cairo')]\")\n"
        "print(r.value, r.error)"
    )
    env = {**os.environ, "LMULATOR_LOCAL_MODEL": "qwen2.5-coder-1.5b"}
    env.pop("OPENAI_BASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.stdout.strip() == "['France', 'Japan', 'Egypt'] None", out.stderr[-2000:]


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
    from lmulator.lm.local.model import ensure_server
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
    server_pid = int(LineReader(owner.stdout).next(timeout=120))
    assert _alive(server_pid)
    if how == "is killed":
        os.kill(owner.pid, signal.SIGKILL)
    owner.wait(timeout=30)
    owner.stdout.close()
    owner.stdin.close()
    assert _wait_gone(server_pid), f"server {server_pid} outlived its owner"


def test_a_cached_reply_never_starts_the_embedded_server(tmp_path, monkeypatch):
    from lmulator.lm.cache import cache_key
    from lmulator.lm.factory import make_client

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    client = make_client(Config(cache=str(tmp_path / "replies.sqlite3")))
    lazy = client.client  # the embedded model's client, behind the cache
    messages = [{"role": "user", "content": ">>> get_country('Paris')"}]
    schema = {"type": "object"}
    key = cache_key(client.model, client.endpoint, messages, schema)
    client.cache.put(key, client.model, client.endpoint, {"messages": messages}, '{"value": "F"}')
    assert client.complete(messages, schema, "value") == '{"value": "F"}'
    assert not lazy.started  # answered from the cache: no llama.cpp server was started


def test_a_streamed_reply_comes_in_pieces_and_says_what_it_cost(embedded):
    from lmulator.lm.client import stream_text
    from lmulator.usage import metering

    pieces: list[str] = []
    messages = [{"role": "user", "content": "Write a Python list of three colours."}]
    with metering() as meter:
        text = stream_text(embedded.emulator.client, messages, 48, pieces.append)
    assert len(pieces) >= 2 and pieces[-1] == text and text.startswith(pieces[0])
    assert meter.spent.calls == 1
    assert meter.spent.prompt_tokens >= 10  # the server counted the prompt it evaluated
    assert 2 <= meter.spent.completion_tokens <= 48
