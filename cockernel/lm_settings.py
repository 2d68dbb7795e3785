"""``%lm``: the LM settings a notebook may show and change, parsed and applied to a Config."""

from __future__ import annotations

import dataclasses
import os
import shlex
from typing import Any

from lmulator.config import Config, switch
from lmulator.errors import ConfigError
from lmulator.lm.replay import replay_path_for
from lmulator.sandbox.runner import broker_holds_key

from .paths import path_in_notebook_dir, resolve_in_notebook_dir

LM_SETTINGS = (
    "base_url", "model", "temperature", "cache", "record", "replay_file", "timeout",
    "min_confidence", "raise_errors", "emulate_io",
)  # fmt: skip
NUMBERS = ("temperature", "timeout", "min_confidence")
#: The on/off settings, and what each means when on and when off.
SWITCHES = {
    "raise_errors": (
        "on: a genuine error stops the cell",
        "off: the LM masks genuine errors; the cell names each it masked",
    ),
    "emulate_io": (
        "on: the LM may invent what files, URLs and processes give (marked ?)",
        "off: files, URLs and processes fail as in Python",
    ),
}


#: ``%lm --help``: every setting, what it takes and what it does.
LM_HELP = """\
%lm                      show the LM settings
%lm key=value ...        change them (nothing changes if one is refused)
  base_url=URL           an OpenAI-compatible endpoint (empty: the embedded model)
  model=NAME             the model the endpoint serves
  temperature=T          sampling temperature, 0 to 2
  timeout=S              seconds an LM request may take, more than 0
  min_confidence=P       an answer less sure than P (0 to 1) fails its statement; 0: any
  cache=auto|off|FILE    the reply cache
  record=off|record|replay   store every exchange in, or answer only from, the replay file
  replay_file=FILE       the replay file (default: NOTEBOOK.lmreplay.jsonl beside the notebook)
  raise_errors=on|off    on: a genuine error stops the cell; off: the LM masks it
  emulate_io=on|off      on: the LM may invent what files, URLs and processes give
%lm --help               this text"""


def wants_help(line: str) -> bool:
    """Whether a magic's argument line asks for its help."""
    return line.strip() in ("-h", "--help")


def parse_lm_settings(line: str) -> dict[str, str]:
    """``key=value`` words (``-`` in keys read as ``_``); ValueError for anything else."""
    changes: dict[str, str] = {}
    try:
        words = shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise ValueError(f"cannot read {line.strip()!r}: {exc}") from None
    for word in words:
        key, sep, value = word.partition("=")
        key = key.replace("-", "_")
        if not sep or key not in LM_SETTINGS:
            raise ValueError(
                f"expected key=value with key in {', '.join(LM_SETTINGS)}; got {word!r}"
            )
        changes[key] = value
    return changes


def config_with(cfg: Config, changes: dict[str, str], confined: bool, notebook: str) -> Config:
    """``cfg`` with the settings changed; under a confining policy, files stay in the
    notebook's directory."""
    update: dict[str, Any] = {}
    if "base_url" in changes:
        update["base_url"] = changes["base_url"] or None
    if "model" in changes:
        update["model"] = changes["model"]
    for key in NUMBERS:
        if key in changes:
            update[key] = number(key, changes[key])
    for key in SWITCHES:
        if key in changes:
            update[key] = switch(changes[key], key)
    if "cache" in changes:
        cache = changes["cache"]
        if confined and cache not in ("auto", "off"):
            cache = path_in_notebook_dir(cache, "%lm cache")
        update["cache"] = cache
    if "replay_file" in changes:
        path = changes["replay_file"]
        update["record_path"] = (
            path_in_notebook_dir(path, "%lm replay_file")
            if confined
            else resolve_in_notebook_dir(path)
        )
    if "record" in changes:
        update["record"] = changes["record"]
        if changes["record"] != "off" and not (update.get("record_path") or cfg.record_path):
            update["record_path"] = resolve_in_notebook_dir(str(replay_path_for(notebook)))
    return dataclasses.replace(cfg, **update)


def number(key: str, text: str) -> float:
    """A setting's number; ValueError naming the setting if ``text`` is none."""
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key} needs a number; got {text!r}") from None


def notebook_path(user_ns: dict[str, Any]) -> str:
    """The running notebook's path as Jupyter names it (a default name if it does not)."""
    path = os.environ.get("JPY_SESSION_NAME") or user_ns.get("__session__")
    return path if isinstance(path, str) and path else "notebook.ipynb"


def describe_lm(cfg: Config, policy: str) -> str:
    """The ``%lm`` table: endpoint, model, key state, temperature, cache, record, mode, policy."""
    endpoint = cfg.base_url or "embedded model (local llama.cpp server)"
    rows = [
        ("endpoint", endpoint),
        ("model", cfg.model if cfg.base_url else embedded_model_name()),
        ("api key", key_state(cfg)),
        ("temperature", f"{cfg.temperature:g}"),
        ("confidence", f"at least {cfg.min_confidence:g}" if cfg.min_confidence else "any"),
        ("cache", cfg.cache),
        ("record", cfg.record + (f" ({cfg.record_path})" if cfg.record != "off" else "")),
        ("mode", cfg.mode),
        *((key, on if getattr(cfg, key) else off) for key, (on, off) in SWITCHES.items()),
        ("policy", policy),
    ]
    return "\n".join(f"{k:12} {v}" for k, v in rows)


def embedded_model_name() -> str:
    """The name of the embedded model this kernel would serve."""
    try:
        from lmulator.lm.local.model import model_alias

        return model_alias()
    except ConfigError as exc:
        return f"(none: {exc})"


def key_state(cfg: Config) -> str:
    """How ``%lm`` shows the API key: only whether one is set, and where it is held."""
    if cfg.api_key:
        return "set"
    held = broker_holds_key(cfg.base_url)
    return "set (held by the broker, outside the sandbox)" if held else "not set"
