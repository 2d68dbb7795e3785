"""A broker that believes its runner, attacked with hostile runner messages and real HTTP servers:
no redirects, no foreign endpoint, the key only to its endpoint and model, every text scrubbed,
no cache switch, no embedded model where another endpoint is configured."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lmulator.config import Config
from lmulator.lm.client import OpenAIChatClient
from lmulator.lm.factory import make_client
from lmulator.sandbox import SandboxSpec
from lmulator.sandbox.broker import Broker
from lmulator.scrub import REDACTED

from .hostile_http import Endpoint

KEY = "sk-live-0123456789abcdefSECRET"
OTHER_SECRET = "ghp_other-secret-of-the-user-42"
MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def endpoints() -> Iterator[list[Endpoint]]:
    """Endpoints a test makes; all closed after it."""
    made: list[Endpoint] = []
    yield made
    for endpoint in made:
        endpoint.close()


def serve(endpoints: list[Endpoint], *args: object, **kwargs: object) -> Endpoint:
    endpoint = Endpoint(*args, **kwargs)  # type: ignore[arg-type]
    endpoints.append(endpoint)
    return endpoint


def broker_for(url: str | None, env: dict[str, str] | None = None, **config: object) -> Broker:
    """A broker configured for ``url`` with the key, its environment holding another secret."""
    settings = {"base_url": url, "api_key": KEY, "model": "m", "cache": "off", "timeout": 10,
                **config}  # fmt: skip
    environment = {"OPENAI_API_KEY": KEY, "GITHUB_TOKEN": OTHER_SECRET, **(env or {})}
    return Broker(Config(**settings), SandboxSpec(), env=environment)  # type: ignore[arg-type]


def ask(broker: Broker, **settings: object) -> dict:
    """A runner's LM request, answered."""
    return broker.answer({"op": "lm", "id": 1, "messages": MESSAGES, "schema": {"type": "object"},
                          "name": "value_reply", "settings": settings})  # fmt: skip


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_an_error_and_never_followed(endpoints, status):
    listener = serve(endpoints)
    hostile = serve(endpoints, "redirect", target=listener.base_url, status=status)
    broker = broker_for(hostile.base_url)
    reply = ask(broker)
    assert reply["kind"] == "emulation" and "text" not in reply
    assert f"HTTP {status}, a redirect, which is not followed" in reply["error"]
    assert len(hostile.seen()) == 1  # asked once: a redirect is not retried
    assert listener.seen() == []  # the address it pointed at was never reached


def test_the_client_itself_does_not_follow_redirects(endpoints):
    listener = serve(endpoints)
    hostile = serve(endpoints, "redirect", target=listener.base_url, status=307)
    client = OpenAIChatClient(hostile.base_url, KEY, "m", schema_style="json_object", timeout=10)
    try:
        with pytest.raises(Exception, match="HTTP 307, a redirect"):
            client.complete(MESSAGES, {"type": "object"}, "value_reply")
    finally:
        client.close()
    assert listener.seen() == []


@pytest.mark.parametrize("mode", ["echo_error", "echo_reply"])
def test_texts_from_the_endpoint_are_scrubbed_of_the_key_and_other_secrets(endpoints, mode):
    hostile = serve(endpoints, mode, leak=f"{OTHER_SECRET} and again {KEY}")
    reply = ask(broker_for(hostile.base_url))
    assert hostile.seen()[0]["headers"]["authorization"] == f"Bearer {KEY}"  # it had the key
    text = json.dumps(reply)
    assert KEY not in text and OTHER_SECRET not in text
    assert REDACTED in text
    assert ("error" in reply) is (mode == "echo_error")


def test_a_key_cut_short_in_an_error_is_scrubbed_too(endpoints):
    # The client keeps 300 characters of an error's message: here the cut falls mid-key.
    half = len(KEY) // 2
    pad = "x" * (300 - len("bad credentials: Bearer ") - half)
    hostile = serve(endpoints, "echo_error", pad=pad)
    reply = ask(broker_for(hostile.base_url))
    assert "x" * 50 in reply["error"]  # the message did come through
    assert KEY[:half] not in reply["error"] and KEY[:8] not in reply["error"]
    assert reply["error"].endswith(REDACTED)


def test_a_listed_endpoint_never_gets_the_key(endpoints):
    configured, listed = serve(endpoints), serve(endpoints)
    broker = broker_for(configured.base_url, {"LMULATOR_ALLOWED_ENDPOINTS": listed.base_url})
    reply = ask(broker, base_url=listed.base_url, model="any-model-at-all")
    assert reply.get("text") == '{"value": 1}'
    (request,) = listed.seen()
    assert KEY not in json.dumps(request)
    assert configured.seen() == []


def test_an_endpoint_not_listed_is_never_reached_even_on_loopback(endpoints):
    configured, local = serve(endpoints), serve(endpoints)
    broker = broker_for(configured.base_url)
    reply = ask(broker, base_url=local.base_url)
    assert "does not let cells reach" in reply["error"]
    assert local.seen() == [] and configured.seen() == []


def test_the_key_is_sent_only_with_the_configured_or_listed_models(endpoints):
    configured = serve(endpoints)
    broker = broker_for(configured.base_url, {"LMULATOR_ALLOWED_MODELS": "m-mini"})
    refused = ask(broker, model="o1-pro")
    assert "only for the model 'm'" in refused["error"] and configured.seen() == []
    assert ask(broker, model="m-mini").get("text") == '{"value": 1}'
    assert json.loads(configured.seen()[0]["body"])["model"] == "m-mini"


def test_no_embedded_model_where_another_endpoint_is_configured(endpoints):
    configured = serve(endpoints)
    made: list[Config] = []

    def factory(config: Config):
        made.append(config)
        return make_client(config)

    broker = Broker(Config(base_url=configured.base_url, api_key=KEY, cache="off"), SandboxSpec(),
                    client_factory=factory, env={})  # fmt: skip
    reply = broker.answer({"op": "text", "id": 2, "messages": MESSAGES, "max_tokens": 5,
                           "settings": {"base_url": None}})  # fmt: skip
    assert "does not start the embedded model" in reply["error"]
    assert made == []  # no client, so nothing of the embedded model was prepared
    from lmulator.lm.local import model

    assert model._server is None


def test_a_runner_cannot_switch_the_cache_back_on(endpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("LMULATOR_CACHE_DIR", str(tmp_path))
    configured = serve(endpoints)
    broker = broker_for(configured.base_url, cache="off")
    reply = ask(broker, cache="auto")
    assert "the user's setting ('off')" in reply["error"]
    reply = ask(broker, cache=str(tmp_path / "elsewhere.sqlite3"))
    assert "the user's setting ('off')" in reply["error"]
    assert configured.seen() == [] and list(tmp_path.iterdir()) == []  # no prompt written
    assert ask(broker, cache="off").get("text") == '{"value": 1}'
