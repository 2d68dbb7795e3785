"""The broker's rules seen from a real ``coc`` kernel: ``%lm`` may ask, the broker decides.

The configured endpoint is a hostile one (it echoes the Authorization header into its replies);
another endpoint on this machine records whatever reaches it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ..kernel.helpers import Execution, Kernel
from .hostile_http import Endpoint

KEY = "sk-kernel-0123456789-SECRET"


@pytest.fixture(scope="module")
def endpoints() -> Iterator[tuple[Endpoint, Endpoint]]:
    hostile, other = Endpoint("echo_reply"), Endpoint()
    yield hostile, other
    hostile.close()
    other.close()


@pytest.fixture(scope="module")
def kernel(endpoints, tmp_path_factory) -> Iterator[Kernel]:
    hostile, _ = endpoints
    kernel = Kernel(
        env={"OPENAI_BASE_URL": hostile.base_url, "OPENAI_API_KEY": KEY, "LMULATOR_MODEL": "m",
             "LMULATOR_CACHE": "off", "LMULATOR_MODE": "interweave"},
        cwd=str(tmp_path_factory.mktemp("notebook")),
    )  # fmt: skip
    yield kernel
    kernel.close()


def shown(ex: Execution) -> str:
    """Everything an execution sent back, as text."""
    return json.dumps([m["content"] for m in ex.messages]) + json.dumps(ex.reply["content"])


def test_a_reply_that_echoes_the_key_reaches_the_cell_scrubbed(kernel, endpoints):
    hostile, _ = endpoints
    ex = kernel.run("echoed = what_was_sent('x')\nechoed")
    assert hostile.seen()[-1]["headers"]["authorization"] == f"Bearer {KEY}"  # it had the key
    assert KEY not in shown(ex) and "[redacted]" in shown(ex)
    assert KEY not in shown(kernel.run("str(echoed)"))


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [("base_url={other}", "does not let cells reach"),
     ("base_url=", "does not start the embedded model"),
     ("cache=auto", "the user's setting"),
     ("model=o1-pro", "only for the model 'm'")],
)  # fmt: skip
def test_lm_settings_a_cell_may_ask_for_but_not_get(kernel, endpoints, setting, refusal):
    hostile, other = endpoints
    asked = len(hostile.seen())
    kernel.run(f"%lm {setting.format(other=other.base_url)}")
    try:
        ex = kernel.run("value = lookup_the_answer('q')")
        assert refusal in shown(ex)
    finally:
        back = f"base_url={hostile.base_url} model=m cache=off"
        assert kernel.run(f"%lm {back}").status == "ok"
    assert other.seen() == [] and len(hostile.seen()) == asked  # nothing was sent anywhere
