"""The broker: it decides what a runner may use (endpoints, models, cache, limits); the runner
only asks."""

import time

import pytest

from lmulator.config import Config
from lmulator.errors import ConfigError, ReplyError
from lmulator.lm.client import Completion
from lmulator.sandbox import SandboxSpec
from lmulator.sandbox.broker import Broker, reply_id, runner_environment
from lmulator.sandbox.endpoints import Allowance, endpoint_key, split_list
from lmulator.sandbox.runner import BrokerClient
from lmulator.sandbox.watchdog import effective_limit

KEY = "sk-broker-test-key"
LISTED = "http://127.0.0.1:9/v1"


def make_broker(lm, env=None, **config):
    settings = {"base_url": lm.base_url, "api_key": KEY, "model": "m", "cache": "off", **config}
    return Broker(Config(**settings), SandboxSpec(), env=env or {})


@pytest.fixture
def broker(lm):
    broker = make_broker(lm, {"LMULATOR_ALLOWED_ENDPOINTS": LISTED})
    yield broker
    broker.close()


def test_the_runner_environment_keeps_settings_and_drops_secrets():
    env = runner_environment(
        {"PATH": "/usr/bin", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://x",
         "LMULATOR_MODE": "python", "LMULATOR_API_TOKEN": "t", "GITHUB_TOKEN": "g",
         "AWS_SECRET_ACCESS_KEY": "a", "LC_ALL": "C.UTF-8", "SSH_AUTH_SOCK": "/tmp/agent"},
        "/tmp/box",
    )  # fmt: skip
    assert env["PATH"] == "/usr/bin" and env["LMULATOR_MODE"] == "python"
    assert env["TMPDIR"] == "/tmp/box" and env["LC_ALL"] == "C.UTF-8"
    assert not {"OPENAI_API_KEY", "OPENAI_BASE_URL", "LMULATOR_API_TOKEN", "GITHUB_TOKEN",
                "AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK"} & set(env)  # fmt: skip


def test_lists_split_on_commas_and_spaces():
    assert split_list(" http://a/v1, http://b/v1\nembedded,,") == [
        "http://a/v1", "http://b/v1", "embedded"]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/", True),
     ("HTTP://LocalHost/v1", "http://localhost:80/v1", True),
     ("https://api.example/v1", "http://api.example/v1", False),
     ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8001/v1", False),
     ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v2", False)],
)  # fmt: skip
def test_endpoints_compare_by_scheme_host_port_and_path(a, b, same):
    assert (endpoint_key(a) == endpoint_key(b)) is same


@pytest.mark.parametrize(
    "url",
    ["http://user:pw@127.0.0.1/v1", "http://127.0.0.1/v1?x=1", "http://127.0.0.1/v1#f",
     "ftp://127.0.0.1/", "file:///etc/passwd", "not a url", "http://127.0.0.1:99999/"],
)  # fmt: skip
def test_urls_that_name_no_plain_endpoint(url):
    assert endpoint_key(url) is None


def test_a_malformed_list_is_refused_when_the_broker_starts(lm):
    with pytest.raises(ConfigError, match="LMULATOR_ALLOWED_ENDPOINTS"):
        make_broker(lm, {"LMULATOR_ALLOWED_ENDPOINTS": "127.0.0.1:8000"})


def test_the_key_goes_only_to_the_configured_endpoint(broker, lm):
    same = broker.settings_config({"base_url": lm.base_url + "/", "model": "m"})
    assert same.api_key == KEY and same.base_url == lm.base_url  # the broker's own spelling
    listed = broker.settings_config({"base_url": LISTED, "model": "anything"})
    assert listed.api_key is None and listed.base_url == LISTED


@pytest.mark.parametrize(
    "url",
    ["https://attacker.example/v1", "http://10.1.2.3/v1", "http://127.0.0.1:10/v1",
     "http://localhost:9/v1", "http://127.0.0.1:9/v1?next=x", "http://u:p@127.0.0.1:9/v1", None],
)  # fmt: skip
def test_endpoints_the_user_did_not_allow_are_refused(broker, url):
    with pytest.raises(ConfigError, match="sandbox"):
        broker.settings_config({"base_url": url})


def test_the_embedded_model_only_when_configured_or_listed(lm):
    embedded = Broker(Config(cache="off"), SandboxSpec(), env={})
    assert embedded.settings_config({"base_url": None}).base_url is None
    with pytest.raises(ConfigError, match="sandbox"):
        embedded.settings_config({"base_url": lm.base_url})
    listed = make_broker(lm, {"LMULATOR_ALLOWED_ENDPOINTS": "embedded"})
    config = listed.settings_config({"base_url": None})
    assert config.base_url is None and config.api_key is None


def test_with_the_key_only_the_configured_or_listed_models(lm):
    broker = make_broker(lm, {"LMULATOR_ALLOWED_MODELS": "m-large, m-small"})
    assert broker.settings_config({"model": "m-small"}).api_key == KEY
    with pytest.raises(ConfigError, match="LMULATOR_ALLOWED_MODELS"):
        broker.settings_config({"model": "o1-pro"})
    keyless = make_broker(lm, api_key=None)
    assert keyless.settings_config({"model": "o1-pro"}).model == "o1-pro"


@pytest.mark.parametrize(
    ("user", "asked", "allowed"),
    [("off", "off", True), ("off", "auto", False), ("off", "/tmp/elsewhere.sqlite3", False),
     ("auto", "auto", True), ("auto", "off", True), ("auto", "/root/.ssh/authorized_keys", False),
     ("/tmp/mine.sqlite3", "/tmp/mine.sqlite3", True), ("/tmp/mine.sqlite3", "auto", False)],
)  # fmt: skip
def test_a_runner_may_turn_the_cache_off_never_on_or_elsewhere(lm, user, asked, allowed):
    broker = make_broker(lm, cache=user)
    if allowed:
        assert broker.settings_config({"cache": asked}).cache == asked
    else:
        with pytest.raises(ConfigError, match="the user's setting"):
            broker.settings_config({"cache": asked})


@pytest.mark.parametrize(
    "settings",
    [{"record": "record"}, {"record_path": "/tmp/x"}, {"api_key": "sk-other"}, {"timeout": 10_000},
     {"model": ""}, {"temperature": "hot"}, {"timeout": True}, {"schema_style": "xml"},
     "not an object"],
)  # fmt: skip
def test_settings_the_runner_may_not_have(broker, settings):
    with pytest.raises(ConfigError):
        broker.settings_config(settings)


def test_allowance_describes_what_it_allows():
    allowance = Allowance("http://a/v1", ("http://b/v1",), embedded_listed=True)
    assert allowance.describe() == ["http://a/v1", "http://b/v1", "the embedded model"]


def test_a_request_is_answered_with_the_brokers_client(broker, lm):
    lm.rules({"match": [], "reply": {"value": 42}})
    reply = broker.answer(
        {"op": "lm", "id": 7, "messages": [{"role": "user", "content": "hi"}],
         "schema": {"type": "object"}, "name": "value_reply", "settings": {"model": "m"}}
    )  # fmt: skip
    assert reply == {"op": "reply", "id": 7, "text": '{"value": 42}', "confidence": None,
                     "usage": {"calls": 1, "prompt_tokens": 1, "completion_tokens": 2}}  # fmt: skip


def test_a_reply_carries_the_confidence_checked(broker, lm):
    lm.rules({"match": [], "reply": {"value": 42}, "logprob": -0.5})
    msg = {"op": "lm", "id": 8, "messages": [{"role": "user", "content": "hi"}],
           "schema": {"type": "object"}, "name": "value_reply", "settings": {"model": "m"}}  # fmt: skip
    assert broker.answer(msg)["confidence"] == pytest.approx(0.6065, abs=1e-4)

    class Wild:  # a client whose confidence is no probability: the runner gets null
        model = "m"

        def complete_scored(self, messages, schema, name):
            return Completion('{"value": 1}', 7.0)  # type: ignore[arg-type]

    broker.client_for = lambda settings: Wild()  # type: ignore[method-assign]
    assert broker.answer(msg)["confidence"] is None


def test_the_runner_refuses_a_malformed_confidence():
    class Pipe:
        def __init__(self, reply):
            self.reply = reply

        def send(self, message):
            self.reply["id"] = message["id"]

        def recv(self):
            return self.reply

    good = BrokerClient(Pipe({"op": "reply", "text": "{}", "confidence": 0.5}), Config())  # type: ignore[arg-type]
    assert good.complete_scored([], {}, "v") == Completion("{}", 0.5)
    bad = BrokerClient(Pipe({"op": "reply", "text": "{}", "confidence": "high"}), Config())  # type: ignore[arg-type]
    with pytest.raises(ReplyError, match="confidence"):
        bad.complete_scored([], {}, "v")


@pytest.mark.parametrize(
    "msg",
    [{"op": "lm", "messages": []}, {"op": "lm", "messages": [{"role": "root", "content": "x"}]},
     {"op": "lm", "messages": [{"role": "user", "content": "x"}], "schema": "s", "name": "n"},
     {"op": "text", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9},
     {"op": "exec", "messages": [{"role": "user", "content": "x"}]},
     {"op": "lm", "messages": [{"role": "user", "content": "x"}], "schema": {}, "name": "n",
      "settings": {"base_url": "https://attacker.example/v1"}},
     {"op": "lm", "messages": [{"role": "user", "content": "x"}], "schema": {}, "name": "n",
      "settings": {"model": "gpt-costly"}}],
)  # fmt: skip
def test_malformed_or_refused_requests_get_an_error_reply(broker, lm, msg):
    reply = broker.answer({**msg, "id": 1})
    assert reply["id"] == 1 and "error" in reply and "text" not in reply
    assert lm.log() == []  # nothing reached the LM


def test_a_reply_echoes_only_a_plain_id():
    assert [reply_id(x) for x in (3, "a", True, ["x"], {"a": 1}, "x" * 65)] == [
        3, "a", None, None, None, None]  # fmt: skip


@pytest.mark.parametrize(
    ("user", "asked", "limit"),
    [(10.0, 0, 10.0), (10.0, 0.0, 10.0), (10.0, 100, 10.0), (10.0, 3, 3.0), (10.0, -1, 10.0),
     (10.0, "5", 10.0), (10.0, True, 10.0), (10.0, None, 10.0), (10.0, 1e308, 10.0),
     (0.0, 0, 0.0), (0.0, 4, 4.0)],
)  # fmt: skip
def test_a_runner_may_only_make_the_cell_limit_stricter(user, asked, limit):
    assert effective_limit(user, asked) == limit


def test_cell_messages_keep_the_users_limit_and_the_first_start(lm):
    broker = make_broker(lm, cell_timeout=10.0)
    broker._cell_starts(0, time.monotonic())  # "limit 0": no limit, says the runner
    assert broker.cell_limit == 10.0
    first = broker.cell_started
    broker._cell_starts(500, time.monotonic() + 100)  # a second start changes nothing
    assert broker.cell_started == first and broker.cell_limit == 10.0
    broker._cell_starts(2, None)  # but a stricter limit is taken
    assert broker.cell_limit == 2.0
    broker._cell_ends()
    broker._cell_starts(None, time.monotonic() + 1000)  # a start in the future is now
    assert broker.cell_started is not None and broker.cell_started <= time.monotonic()


def test_when_the_broker_ends_the_runner(broker):
    now = time.monotonic()
    broker.cell_started, broker.interrupted_at = now - 10, now - 5
    assert broker.overdue(2.0) == "did not stop within 2 s of the interrupt"
    broker.cell_started = now  # an interrupt from before this cell does not count
    assert broker.overdue(2.0) == ""
    broker.cell_started, broker.interrupted_at = None, now - 5  # between cells: nothing to end
    assert broker.overdue(2.0) == "" and broker.interrupted_at is None
    broker.cell_started, broker.cell_limit = now - 5, 1.0
    assert broker.overdue(2.0) == "ran past its 1 s limit"
    broker.lm_seconds = 4.0  # time spent waiting for the LM is not the cell's
    assert broker.overdue(2.0) == ""


def test_idle_said_again_keeps_the_first_idle_time_and_one_program_keeps_its_first_start(lm):
    broker = make_broker(lm, cell_timeout=10.0)
    broker._cell_ends()
    first_idle = broker.idle_since
    broker._cell_ends()  # "idle" again: still idle since the first time
    assert broker.idle_since == first_idle
    one = Broker(Config(base_url=lm.base_url, model="m", cache="off"), SandboxSpec(), env={},
                 one_cell=True)  # fmt: skip
    one._cell_starts(0, time.monotonic() - 5)
    start = one.cell_started
    one._cell_ends()
    one._cell_starts(0, time.monotonic())  # a program's run: its clock does not start again
    assert one.cell_started == start


class FakeProc:
    pid = 4242


def test_computing_without_a_pause_across_cells_ends_the_runner(lm):
    """However it splits its work into cells, a runner may not compute past the sustained bound."""
    from lmulator.sandbox import watchdog

    broker = make_broker(lm, cell_timeout=1.0)
    broker.proc = FakeProc()
    now = [1000.0]
    cpu = [0.0]
    broker._computing_unseen(now[0], 1.0)  # the watches are made on the first look
    broker._cpu.read = broker._sustained.read = lambda pid: cpu[0]
    span = broker._sustained.span
    assert span == watchdog.SUSTAINED_MIN_S
    why = ""
    for _ in range(int(span / 2) + 4):  # a new cell every 2 s, each within its limit
        broker.cell_started = now[0]
        broker.cell_limit = 1.0
        why = broker._computing_unseen(now[0], 1.0)
        if why:
            break
        now[0] += 2.0
        cpu[0] += 2.0  # a whole core all along
    assert why.startswith(f"kept computing for {span:g} s without a pause")
    quiet = make_broker(lm, cell_timeout=1.0)  # cells with pauses between them
    quiet.proc = FakeProc()
    quiet._computing_unseen(now[0], 1.0)
    quiet._cpu.read = quiet._sustained.read = lambda pid: cpu[0]
    for i in range(int(span / 2) + 4):
        quiet.cell_started = now[0]
        assert quiet._computing_unseen(now[0], 1.0) == ""
        now[0] += 2.0
        cpu[0] += 1.0 if i % 2 else 2.0  # three quarters of a core: cells with pauses
    broker.proc = quiet.proc = None  # nothing was started
    broker.close()
    quiet.close()


def test_waiting_for_the_lm_is_not_the_cells_but_only_up_to_a_bound(broker):
    """A runner that keeps LM requests in flight all the time does not run on for ever."""
    from lmulator.sandbox.watchdog import lm_wait_credit

    now = time.monotonic()
    credit = lm_wait_credit(1.0)
    broker.cell_started, broker.cell_limit = now - 5, 1.0
    broker.lm_seconds = 4.0  # a little waiting: not the cell's
    assert broker.overdue(2.0) == ""
    broker.cell_started = now - credit - 10  # waited for the LM nearly all along, past the bound
    broker.lm_seconds = credit + 9
    assert broker.overdue(2.0) == f"ran past its 1 s limit and {credit:g} s of waiting for the LM"
