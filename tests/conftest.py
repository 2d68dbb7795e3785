"""Shared fixtures: a scripted OpenAI-compatible server over real HTTP, and sessions bound to it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.testing import ScriptedServer

# Tests that only need *a* model use the small one; the default model has tests of its own.
os.environ.setdefault("LMULATOR_LOCAL_MODEL", "smollm2-135m")


@pytest.fixture(scope="session")
def _server_process() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.close()


@pytest.fixture
def lm(_server_process: ScriptedServer) -> ScriptedServer:
    """The scripted LM server, with an empty script and log."""
    _server_process.reset()
    return _server_process


@pytest.fixture
def session(lm: ScriptedServer) -> Callable[..., Session]:
    """A factory for sessions whose LM is the scripted server."""

    def make(**config: object) -> Session:
        policy = config.pop("policy", "restricted")
        config.setdefault("cache", "off")
        cfg = Config(base_url=lm.base_url, model="scripted", timeout=10, **config)  # type: ignore[arg-type]
        return Session(cfg, policy=policy)  # type: ignore[arg-type]

    return make


@pytest.fixture
def plain() -> Session:
    """A session with no LM at all, under the restricted policy."""
    return Session(Config(mode="python"))
