"""Configuration: from the environment, validated with one clear line, the key never shown."""

import pytest

from lmulator.config import Config, from_env
from lmulator.errors import ConfigError
from lmulator.kinds import MODES


def test_the_environment_sets_the_endpoint_model_and_mode():
    config = from_env(
        {"OPENAI_BASE_URL": "http://h/v1", "OPENAI_API_KEY": "sk-secret", "LMULATOR_MODEL": "m",
         "LMULATOR_MODE": "python", "LMULATOR_TIMEOUT": "5", "LMULATOR_MEMORY_MB": "0"}
    )  # fmt: skip
    assert (config.base_url, config.model, config.mode) == ("http://h/v1", "m", "python")
    assert config.timeout == 5 and config.memory_bytes() == 0
    assert "sk-secret" not in repr(config) and "api_key=<set>" in repr(config)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LMULATOR_MODE": "fast"}, "unknown mode 'fast' \\(choose from interweave"),
        ({"LMULATOR_TIMEOUT": "soon"}, "bad number in the environment"),
        ({"LMULATOR_PROMPT_STYLE": "poetic"}, "prompt style"),
    ],
)
def test_bad_settings_are_one_clear_line(env, message):
    with pytest.raises(ConfigError, match=message) as info:
        from_env(env)
    assert "\n" not in str(info.value)


def test_with_changes_some_fields_and_keeps_the_rest_validated():
    config = Config(model="a")
    assert config.with_(mode="lm", model=None).model == "a"
    assert config.with_(mode="lm").mode == "lm"
    with pytest.raises(ConfigError):
        config.with_(record="sometimes")
    assert set(MODES) == {"interweave", "python", "lm", "try-python-except-lm",
                          "try-python-except-lm-state"}  # fmt: skip
