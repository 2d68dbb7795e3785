"""The API key never reaches the program, a prompt, a trace, a replay file or a log."""

import gc
import json
import logging

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.testing import value_rule

from .attack import refused_by_policy

KEY = "sk-test-0123456789-SECRET"


def _reachable_text(root, limit=20000):
    """Reprs of everything reachable from a namespace by following references."""
    seen, stack, out = set(), [root], []
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        try:
            out.append(repr(obj)[:500])
        except Exception:
            pass
        if isinstance(obj, (str, bytes, int, float)):
            continue
        stack.extend(gc.get_referents(obj))
    return "\n".join(out)


def test_key_is_not_reachable_from_the_namespace_or_in_prompts_traces_replays_logs(
    lm, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    lm.rules(value_rule("lookup('a')", "b"))
    replay = tmp_path / "r.lmreplay.jsonl"
    cfg = Config(
        base_url=lm.base_url,
        api_key=KEY,
        model="m",
        cache="off",
        record="record",
        record_path=str(replay),
    )
    s = Session(cfg)
    result = s.run("import sys\nx = lookup('a')\nx")
    assert result.value == "b"
    # Nothing the program can name leads to the key (no client, config or environment object).
    user = {k: v for k, v in s.namespace.items() if not k.startswith("_")}
    assert KEY not in _reachable_text(user)
    assert all(KEY not in json.dumps(body) for body in lm.log())  # prompts
    assert KEY not in json.dumps([r.to_dict() for r in result.trace], default=str)  # trace
    assert KEY not in replay.read_text()  # replay file
    assert KEY not in caplog.text  # logs
    assert KEY not in repr(cfg) and KEY not in repr(s.emulator.client)


ENVIRONMENT_ROUTES = [
    "import os\ne = os.environ",
    "import posix\ne = posix.environ",
    "import sys\ne = sys.modules['os'].environ",  # the real sys has modules; the policy's not
    "import uuid\ne = uuid.os.environ",  # uuid imports os
    "import random\ne = random._os.environ",  # random imports os as _os
    "import importlib\ne = importlib.import_module('os').environ",
    "e = __import__('os').environ",
]


@pytest.mark.parametrize("source", ENVIRONMENT_ROUTES)
def test_environment_is_not_reachable_from_restricted_code(source):
    s = Session(Config(mode="python"))
    result = s.run(source)
    assert refused_by_policy(result.error), result.error  # the policy's refusal, not any error
    assert "e" not in s.namespace
