"""What a confined process may reach: the sandbox's mode, its workspace and extra paths."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from ..errors import ConfigError

#: ``workspace``: read the machine's Python and libraries, read and write the workspace;
#: ``read-only``: the same, but the workspace is only read; ``off``: no confinement.
MODES = ("workspace", "read-only", "off")


@dataclass(frozen=True)
class SandboxSpec:
    """The confinement of a process that runs cells."""

    mode: str = "workspace"
    required: bool = False  # refuse to run where the operating system cannot confine
    workspace: str | None = None  # the notebook's or script's directory; None: the cwd
    read: tuple[str, ...] = ()  # extra paths that may be read
    write: tuple[str, ...] = ()  # extra paths that may be written
    tmpdir: str | None = None  # the private temporary directory (written)
    bind_ports: tuple[int, ...] = field(default=())  # TCP ports that may be bound (the kernel's)

    def validate(self) -> SandboxSpec:
        """Raise ConfigError with one clear line if a value is unusable."""
        if self.mode not in MODES:
            raise ConfigError(
                f"unknown sandbox mode {self.mode!r} (choose from workspace, read-only, off, "
                "required)"
            )
        if self.required and self.mode == "off":
            raise ConfigError("sandbox 'required' cannot be combined with 'off'")
        for path in (*self.read, *self.write):
            if not os.path.isabs(path):
                raise ConfigError(f"sandbox paths must be absolute, got {path!r}")
        if any(not (0 <= p < 65536) for p in self.bind_ports):
            raise ConfigError("sandbox ports must be between 0 and 65535")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the process is to be confined at all."""
        return self.mode != "off"

    def with_(self, **changes: object) -> SandboxSpec:
        """A copy with some fields changed."""
        return replace(self, **changes).validate()  # type: ignore[arg-type]

    def to_json(self) -> str:
        """The spec as one line of JSON (passed to the confined process)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SandboxSpec:
        """A spec from :meth:`to_json`'s text; ConfigError if it is not one."""
        try:
            data = json.loads(text)
            return cls(
                mode=str(data["mode"]),
                required=bool(data["required"]),
                workspace=data["workspace"],
                read=tuple(map(str, data["read"])),
                write=tuple(map(str, data["write"])),
                tmpdir=data["tmpdir"],
                bind_ports=tuple(int(p) for p in data["bind_ports"]),
            ).validate()
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"not a sandbox description: {exc}") from None


def parse_sandbox(text: str, base: SandboxSpec | None = None) -> SandboxSpec:
    """Read ``workspace``, ``read-only``, ``off``, ``required`` or ``read-only,required``."""
    spec = base or SandboxSpec()
    words = [w.strip() for w in text.split(",") if w.strip()]
    if not words:
        raise ConfigError("empty sandbox setting (choose from workspace, read-only, off, required)")
    mode, required = spec.mode, False
    for word in words:
        if word == "required":
            required = True
        elif word in MODES:
            mode = word
        else:
            raise ConfigError(
                f"unknown sandbox mode {word!r} (choose from workspace, read-only, off, required)"
            )
    return spec.with_(mode=mode, required=required)


def _paths(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(os.path.abspath(os.path.expanduser(p)) for p in value.split(os.pathsep) if p)


def sandbox_from_env(env: Mapping[str, str] | None = None) -> SandboxSpec:
    """Read ``LMULATOR_SANDBOX``, ``LMULATOR_SANDBOX_READ`` and ``LMULATOR_SANDBOX_WRITE``."""
    env = os.environ if env is None else env
    spec = SandboxSpec(
        read=_paths(env.get("LMULATOR_SANDBOX_READ")),
        write=_paths(env.get("LMULATOR_SANDBOX_WRITE")),
    ).validate()
    setting = env.get("LMULATOR_SANDBOX")
    return parse_sandbox(setting, spec) if setting else spec
