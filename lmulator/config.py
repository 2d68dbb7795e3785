"""Configuration from the environment and from arguments."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from .errors import ConfigError
from .kinds import MODES, RECORD_MODES, SCHEMA_STYLES, TRACE_LEVELS, Mode, RecordMode, TraceLevel
from .memory import MIB, default_memory_mb
from .usage import Budget

DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class Config:
    """Where the LM is and how the engine runs. The API key is never shown by repr."""

    base_url: str | None = None
    api_key: str | None = None
    model: str = DEFAULT_MODEL
    mode: Mode = "interweave"
    temperature: float = 0.0
    schema_style: str = "auto"
    timeout: float = 60.0
    raise_errors: bool = False  # genuine errors raise instead of being masked by the LM
    emulate_io: bool = False  # failures from outside the program may be invented by the LM
    trace_level: TraceLevel = "default"
    prompt_style: str = "auto"
    cell_timeout: float = 0.0  # seconds of wall clock per cell; 0 means no limit
    memory_mb: int | None = None  # address space a cell may add; None: half the RAM; 0: no limit
    cache: str = "auto"  # "auto" (the user's cache dir), "off", or a file path
    record: RecordMode = "off"
    record_path: str | None = None
    partial: bool = False  # resolve missing pieces cheaply first (imports, types, stand-ins)
    emulate_statements: bool = True  # hand failing statements to the LM as deltas
    lm: str = "on"  # "off": never call an LM (values become stand-ins, statements are skipped)
    # An LM answer less sure than this (or with no confidence) fails its statement; 0: any.
    min_confidence: float = 0.0
    max_calls: int = 0  # LM calls one cell may send; 0: no bound
    max_tokens: int = 0  # LM tokens (prompt and completion) one cell may spend; 0: no bound

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return (
            f"Config(base_url={self.base_url!r}, model={self.model!r}, mode={self.mode!r}, "
            f"api_key=<{key}>)"
        )

    def validate(self) -> Config:
        """Raise ConfigError with one clear line if a value is unusable."""
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r} (choose from {', '.join(MODES)})")
        if self.schema_style not in SCHEMA_STYLES:
            raise ConfigError(
                f"unknown schema style {self.schema_style!r} (choose from {', '.join(SCHEMA_STYLES)})"
            )
        if self.trace_level not in TRACE_LEVELS:
            raise ConfigError(
                f"unknown trace level {self.trace_level!r} (choose from default, full)"
            )
        if self.prompt_style not in ("auto", "full", "compact"):
            raise ConfigError(
                f"unknown prompt style {self.prompt_style!r} (choose from auto, full, compact)"
            )
        if self.lm not in ("on", "off"):
            raise ConfigError(f"lm must be on or off, got {self.lm!r}")
        if self.record not in RECORD_MODES:
            raise ConfigError(
                f"unknown record mode {self.record!r} (choose from off, record, replay)"
            )
        if self.record != "off" and not self.record_path:
            raise ConfigError(f"record mode {self.record!r} needs a replay file path")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base URL must start with http:// or https://, got {self.base_url!r}"
            )
        if not (0 <= self.cell_timeout < math.inf):  # NaN fails this too
            raise ConfigError(f"cell timeout must be 0 (none) or positive, got {self.cell_timeout}")
        if not (0 < self.timeout < math.inf):
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.memory_mb is not None and self.memory_mb < 0:
            raise ConfigError(f"memory limit must be 0 (none) or positive MB, got {self.memory_mb}")
        if not (0.0 <= self.min_confidence <= 1.0):  # NaN fails this too
            raise ConfigError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        for name in ("max_calls", "max_tokens"):
            bound = getattr(self, name)
            if isinstance(bound, bool) or not isinstance(bound, int) or bound < 0:
                raise ConfigError(f"{name} must be 0 (no bound) or a positive whole number, "
                                  f"got {bound!r}")  # fmt: skip
        if not (0.0 <= self.temperature <= 2.0):
            raise ConfigError(f"temperature must be between 0 and 2, got {self.temperature}")
        return self

    def resolved_prompt_style(self) -> str:
        """The prompt style to use: ``auto`` is compact for the embedded model, else full."""
        if self.prompt_style != "auto":
            return self.prompt_style
        return "full" if self.base_url else "compact"

    def memory_bytes(self) -> int:
        """The address space in bytes a cell may add (0: no limit)."""
        mb = default_memory_mb() if self.memory_mb is None else self.memory_mb
        return mb * MIB

    def budget(self) -> Budget:
        """The LM calls and tokens one cell may spend."""
        return Budget(self.max_calls, self.max_tokens)

    def with_(self, **changes: object) -> Config:
        """A copy with some fields changed (None values leave a field as it is)."""
        kept: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept).validate()


_TRUE = ("1", "on", "true", "yes")
_FALSE = ("", "0", "off", "false", "no")


def switch(value: str, name: str) -> bool:
    """An on/off setting (``on``/``off``, ``1``/``0``, ``true``/``false``, ``yes``/``no``)."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be on or off, got {value!r}")


def from_env(env: Mapping[str, str] | None = None) -> Config:
    """Read OPENAI_BASE_URL, OPENAI_API_KEY, LMULATOR_MODEL, LMULATOR_MODE and friends."""
    env = os.environ if env is None else env
    raise_errors = switch(env.get("LMULATOR_RAISE_ERRORS", ""), "LMULATOR_RAISE_ERRORS")
    emulate_io = switch(env.get("LMULATOR_EMULATE_IO", ""), "LMULATOR_EMULATE_IO")
    try:
        temperature = float(env.get("LMULATOR_TEMPERATURE", "0"))
        timeout = float(env.get("LMULATOR_TIMEOUT", "60"))
        min_confidence = float(env.get("LMULATOR_MIN_CONFIDENCE") or 0)
        cell_timeout = float(env.get("LMULATOR_CELL_TIMEOUT") or 0)
        memory = env.get("LMULATOR_MEMORY_MB")
        memory_mb = int(memory) if memory else None
        max_calls = int(env.get("LMULATOR_MAX_CALLS") or 0)
        max_tokens = int(env.get("LMULATOR_MAX_TOKENS") or 0)
    except ValueError as exc:
        raise ConfigError(f"bad number in the environment: {exc}") from None
    return Config(
        base_url=env.get("OPENAI_BASE_URL") or None,
        api_key=env.get("OPENAI_API_KEY") or None,
        model=env.get("LMULATOR_MODEL") or DEFAULT_MODEL,
        mode=cast(Mode, env.get("LMULATOR_MODE") or "interweave"),  # checked by validate()
        temperature=temperature,
        schema_style=env.get("LMULATOR_SCHEMA_STYLE") or "auto",
        timeout=timeout,
        prompt_style=env.get("LMULATOR_PROMPT_STYLE") or "auto",
        cache=env.get("LMULATOR_CACHE") or "auto",
        cell_timeout=cell_timeout,
        memory_mb=memory_mb,
        min_confidence=min_confidence,
        max_calls=max_calls,
        max_tokens=max_tokens,
        raise_errors=raise_errors,
        emulate_io=emulate_io,
    ).validate()
