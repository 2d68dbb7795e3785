"""The broker: the key stays with its endpoint, and the runner's requests are checked."""

import time

import pytest

from lmulator.config import Config
from lmulator.errors import ConfigError
from lmulator.sandbox import SandboxSpec
from lmulator.sandbox.broker import Broker, is_loopback_url, runner_environment

KEY = "sk-broker-test-key"


@pytest.fixture
def broker(lm):
    broker = Broker(Config(base_url=lm.base_url, api_key=KEY, model="m", cache="off"),
                    SandboxSpec())  # fmt: skip
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


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://127.0.0.1:8000/v1", True), ("http://localhost/v1", True), ("http://[::1]:1/", True),
     ("http://127.9.9.9/", True), ("https://api.openai.com/v1", False),
     ("http://127.0.0.1.evil.com/", False), ("http://10.0.0.1/", False), ("not a url", False)],
)  # fmt: skip
def test_loopback_urls(url, loopback):
    assert is_loopback_url(url) is loopback


def test_the_key_goes_only_to_the_endpoint_it_came_with(broker, lm):
    same = broker.settings_config({"base_url": lm.base_url, "model": "other"})
    assert same.api_key == KEY and same.model == "other"
    local = broker.settings_config({"base_url": "http://127.0.0.1:9/v1"})
    assert local.api_key is None
    assert broker.settings_config({"base_url": None}).api_key is None  # the embedded model


@pytest.mark.parametrize(
    "settings",
    [{"base_url": "https://attacker.example/v1"}, {"base_url": "http://10.1.2.3/v1"},
     {"cache": "/root/.ssh/authorized_keys"}, {"timeout": 10_000}, {"model": ""},
     {"temperature": "hot"}, {"schema_style": "xml"}, "not an object"],
)  # fmt: skip
def test_settings_the_runner_may_not_have(broker, settings):
    with pytest.raises(ConfigError):
        broker.settings_config(settings)


def test_a_request_is_answered_with_the_brokers_client(broker, lm):
    lm.rules({"match": [], "reply": {"value": 42}})
    reply = broker.answer(
        {"op": "lm", "id": 7, "messages": [{"role": "user", "content": "hi"}],
         "schema": {"type": "object"}, "name": "value_reply", "settings": {"model": "m"}}
    )  # fmt: skip
    assert reply == {"op": "reply", "id": 7, "text": '{"value": 42}'}


@pytest.mark.parametrize(
    "msg",
    [{"op": "lm", "messages": []}, {"op": "lm", "messages": [{"role": "root", "content": "x"}]},
     {"op": "lm", "messages": [{"role": "user", "content": "x"}], "schema": "s", "name": "n"},
     {"op": "text", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**9},
     {"op": "exec", "messages": [{"role": "user", "content": "x"}]},
     {"op": "lm", "messages": [{"role": "user", "content": "x"}], "schema": {}, "name": "n",
      "settings": {"base_url": "https://attacker.example/v1"}}],
)  # fmt: skip
def test_malformed_or_refused_requests_get_an_error_reply(broker, lm, msg):
    reply = broker.answer({**msg, "id": 1})
    assert reply["id"] == 1 and "error" in reply and "text" not in reply
    assert lm.log() == []  # nothing reached the LM


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
