"""What the broker lets a runner ask for: endpoints, models, and the other LM settings.

The broker decides; the runner only asks. The allowed endpoints are the configured one (which
may be the embedded model) and those the user listed in ``LMULATOR_ALLOWED_ENDPOINTS`` when the
broker started (``embedded`` names the embedded model); the API key goes only to the configured
endpoint, and with it only the configured model or one listed in ``LMULATOR_ALLOWED_MODELS``.
A runner may turn the reply cache off, never on or elsewhere, and cannot name a record file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ..config import Config
from ..errors import ConfigError
from ..kinds import SCHEMA_STYLES

ENDPOINTS_ENV = "LMULATOR_ALLOWED_ENDPOINTS"
MODELS_ENV = "LMULATOR_ALLOWED_MODELS"
EMBEDDED = "embedded"  # how a list names the embedded model
#: The LM settings a runner may send; anything else in its settings is refused.
RUNNER_SETTINGS = frozenset({"base_url", "model", "temperature", "schema_style", "timeout",
                             "cache"})  # fmt: skip
MAX_LM_TIMEOUT_S = 600.0


def split_list(text: str) -> list[str]:
    """The words of a list separated by commas or white space."""
    return [word for word in re.split(r"[,\s]+", text) if word]


def endpoint_key(url: str) -> tuple[str, str, int, str] | None:
    """What identifies an http(s) endpoint (scheme, host, port, path); None for anything else,
    and for a URL with credentials, a query or a fragment."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        return None
    default = 443 if scheme == "https" else 80
    return (scheme, parts.hostname.lower(), port or default, parts.path.rstrip("/"))


@dataclass(frozen=True)
class Allowance:
    """The endpoints and models a runner may use, fixed when the broker starts."""

    configured: str | None  # the configured endpoint (None: the embedded model)
    listed: tuple[str, ...] = ()  # further endpoints the user listed (None-free URLs)
    embedded_listed: bool = False  # the user listed the embedded model
    models: frozenset[str] = frozenset()  # further models the key may be sent for

    @classmethod
    def from_env(cls, config: Config, env: Mapping[str, str]) -> Allowance:
        """The allowance for ``config`` and the lists in ``env``; ConfigError for a bad entry."""
        listed: list[str] = []
        embedded = False
        for word in split_list(env.get(ENDPOINTS_ENV, "")):
            if word.lower() == EMBEDDED:
                embedded = True
            elif endpoint_key(word) is None:
                raise ConfigError(
                    f"{ENDPOINTS_ENV}: {word!r} is not an http(s) URL (nor {EMBEDDED!r})"
                )
            else:
                listed.append(word)
        models = frozenset(split_list(env.get(MODELS_ENV, "")))
        return cls(config.base_url, tuple(listed), embedded, models)

    def endpoint(self, asked: str | None) -> str | None:
        """The broker's own spelling of the endpoint a runner asked for; ConfigError if the
        user did not allow it."""
        if asked is None:
            if self.configured is None or self.embedded_listed:
                return None
            raise ConfigError(
                "the sandbox does not start the embedded model here: the LM endpoint is "
                f"{self.configured} (list 'embedded' in {ENDPOINTS_ENV} before starting to "
                "allow it)"
            )
        key = endpoint_key(asked)
        if key is not None:
            for known in (self.configured, *self.listed):
                if known is not None and endpoint_key(known) == key:
                    return known
        allowed = ", ".join(self.describe()) or "none"
        raise ConfigError(
            f"the sandbox does not let cells reach {asked[:200]}: the endpoints allowed are {allowed}; "
            f"name others in {ENDPOINTS_ENV} (or OPENAI_BASE_URL) before starting"
        )

    def describe(self) -> list[str]:
        """The allowed endpoints, as a user would name them."""
        names = [self.configured or "the embedded model"]
        names += [url for url in self.listed if url != self.configured]
        if self.embedded_listed and self.configured is not None:
            names.append("the embedded model")
        return names

    def check_model(self, model: str, configured_model: str, with_key: bool) -> None:
        """ConfigError if ``model`` may not be asked for (with the key: only the configured
        model and those listed)."""
        if with_key and model != configured_model and model not in self.models:
            raise ConfigError(
                f"the sandbox sends the API key only for the model {configured_model!r}"
                + (f" (or {', '.join(sorted(self.models))})" if self.models else "")
                + f"; name others in {MODELS_ENV} before starting"
            )


def settings_config(config: Config, allowance: Allowance, settings: Any) -> Config:
    """The configuration a runner's LM settings ask for, within what the user allowed;
    ConfigError if it may not have it."""
    if settings is None:
        return config
    if not isinstance(settings, dict):
        raise ConfigError("LM settings must be an object")
    unknown = set(settings) - RUNNER_SETTINGS
    if unknown:
        raise ConfigError(f"the sandbox does not take the LM setting {sorted(unknown)[0]!r}")
    asked = settings.get("base_url", config.base_url)
    if asked is not None and (not isinstance(asked, str) or len(asked) > 2000):
        raise ConfigError("the LM endpoint must be a URL")
    base_url = allowance.endpoint(asked)
    model = settings.get("model", config.model)
    temperature = settings.get("temperature", config.temperature)
    timeout = settings.get("timeout", config.timeout)
    schema_style = settings.get("schema_style", config.schema_style)
    cache = settings.get("cache", config.cache)
    if not isinstance(model, str) or not 0 < len(model) <= 200:
        raise ConfigError("the model name must be text")
    if any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in (temperature, timeout)):
        raise ConfigError("temperature and timeout must be numbers")
    if not 0 < timeout <= MAX_LM_TIMEOUT_S:
        raise ConfigError(f"the LM timeout must be between 0 and {MAX_LM_TIMEOUT_S:g} s")
    if schema_style not in SCHEMA_STYLES:
        raise ConfigError(f"unknown schema style {schema_style!r}")
    if cache not in ("off", config.cache):
        raise ConfigError(
            f"the reply cache is the user's setting ({config.cache!r}): under the sandbox a "
            "cell may turn it off, not on or elsewhere"
        )
    with_key = bool(config.api_key) and base_url is not None and base_url == config.base_url
    if base_url is not None:
        allowance.check_model(model, config.model, with_key)
    return replace(
        config,
        base_url=base_url,
        api_key=config.api_key if with_key else None,  # the key stays with its endpoint
        model=model,
        temperature=float(temperature),
        timeout=float(timeout),
        schema_style=schema_style,
        cache=cache,
    ).validate()
