"""Imports for restricted code: an allow-list gate handing out read-only module snapshots, each
with only the names its module declares (`exposed_modules`)."""

from __future__ import annotations

import decimal
import importlib
import importlib.util
import os
import sys
import sysconfig
import types
from collections.abc import Callable, Iterable
from typing import Any

from . import exposed_modules, guards, writes
from .library import REPLACED_MEMBERS, install_enum_check
from .refusals import ImportRefused, PolicyError, Uncopyable

#: Standard-library helpers that allowed modules' C code imports, and the modules whose C code
#: does: ``datetime.strptime`` and ``time.strptime`` import ``_strptime``.
LIBRARY_HELPERS: dict[str, tuple[str, ...]] = {"_strptime": ("datetime", "time")}


class FrozenModule(Uncopyable, types.ModuleType):
    """A read-only snapshot of a module, as restricted code sees it."""

    def __setattr__(self, name: str, value: Any) -> None:
        raise PolicyError(f"cannot modify module {self.__name__!r}")

    def __delattr__(self, name: str) -> None:
        raise PolicyError(f"cannot modify module {self.__name__!r}")

    def __getattr__(self, name: str) -> Any:
        real = sys.modules.get(self.__name__)
        if real is not None and not name.startswith("_") and hasattr(real, name):
            raise AttributeError(
                f"module {self.__name__!r} has no attribute {name!r} under the restricted "
                "policy (it exposes its declared names only)"
            )
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")


def frozen_value(value: Any) -> Any:
    """A module-held container as a program sees it: a copy that cannot change the module's
    (``calendar.mdays``, ``hashlib.algorithms_available``, ``decimal.DefaultContext``: an item
    write or a mutating call on the real one would change it for the whole process)."""
    kind = type(value)
    if kind is list:
        return tuple(value)
    if kind is set:
        return frozenset(value)
    if kind is dict:
        return types.MappingProxyType(dict(value))
    if kind is bytearray:
        return bytes(value)
    if kind is decimal.Context:  # decimal.DefaultContext: every new thread's context starts as it
        return value.copy()
    return value


guards.SNAPSHOT_TYPES.append(FrozenModule)


class ModuleGate(Uncopyable):
    """Imports modules on an allow-list and hands out read-only snapshots of them."""

    def __init__(
        self, allowed: Iterable[str], synthetic: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.synthetic = dict(synthetic or {})
        self.allowed = frozenset(allowed) | frozenset(self.synthetic)
        self._snapshots: dict[str, FrozenModule] = {}
        writes.install_copy_check()
        install_enum_check()
        # When set, a refused import yields this instead of an error (partial programs).
        self.on_refused: Callable[[str], Any] | None = None

    def is_allowed(self, name: str) -> bool:
        """Whether a module (dotted name) is on the allow-list."""
        return name in self.allowed

    def _is_helper(self, name: str) -> bool:
        """Whether ``name`` is a helper the C code of a module this gate allows imports, found
        where Python ships it."""
        users = LIBRARY_HELPERS.get(name, ())
        return any(user in self.allowed for user in users) and is_standard_library(name)

    def snapshot(self, name: str) -> FrozenModule:
        """The read-only snapshot of an allowed module, importing it if needed."""
        snap = self._snapshots.get(name)
        if snap is not None:
            return snap
        if name in self.synthetic:
            snap = FrozenModule(name, None)
            vars(snap).update(self.synthetic[name])
            self._snapshots[name] = snap
            return snap
        module = importlib.import_module(name)
        snap = FrozenModule(name, getattr(module, "__doc__", None))
        self._snapshots[name] = snap
        writes.register_shared(vars(module).values())
        declared = exposed_modules.declared_names(name, module)
        members: dict[str, Any] = {}
        for key, value in vars(module).items():
            if key.startswith("_") or (declared is not None and key not in declared):
                continue
            if isinstance(value, types.ModuleType):
                sub = value.__name__
                if sub in self.allowed:
                    members[key] = self.snapshot(sub)
                continue
            members[key] = frozen_value(value)
        members.update(REPLACED_MEMBERS.get(name, {}))
        vars(snap).update(members)
        # Allowed submodules not yet imported by anyone still appear as attributes.
        prefix = name + "."
        for other in self.allowed:
            if other.startswith(prefix) and "." not in other[len(prefix) :]:
                vars(snap).setdefault(other[len(prefix) :], _LazySubmodule(self, other))
        return snap

    def import_(
        self,
        name: str,
        globals: Any = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        """``__import__`` for restricted code."""
        if level == 0 and from_library_code(fromlist) and self._is_helper(name):
            # An allowed module's C code importing its own helper (``datetime.strptime`` needs
            # ``_strptime``): the program never holds what this returns.
            return importlib.import_module(name)
        if level != 0:
            raise ImportRefused("relative imports are not allowed")
        if not isinstance(name, str) or not name:
            raise ImportRefused("import needs a module name")
        if not self.is_allowed(name) and self.on_refused is not None:
            if fromlist and "*" in fromlist:
                return FrozenModule(name, None)  # nothing to copy; reads resolve one by one
            return self.on_refused(name.split(".")[0] if not fromlist else name)
        if not self.is_allowed(name):
            raise ImportRefused(
                f"import of {name!r} is not allowed by the policy "
                f"(allowed: {', '.join(sorted(self.allowed))})"
            )
        snap = self.snapshot(name)
        if fromlist:
            for item in fromlist:
                sub = f"{name}.{item}"
                if isinstance(vars(snap).get(item), _LazySubmodule):
                    vars(snap)[item] = self.snapshot(sub)
            return snap
        top = name.split(".")[0]
        if not self.is_allowed(top):
            raise ImportRefused(f"import of {top!r} is not allowed by the policy")
        top_snap = self.snapshot(top)
        # Make ``import a.b`` bind ``a`` with ``a.b`` reachable.
        parts = name.split(".")
        current = top_snap
        for i in range(1, len(parts)):
            dotted = ".".join(parts[: i + 1])
            child = vars(current).get(parts[i])
            if not isinstance(child, FrozenModule):
                vars(current)[parts[i]] = self.snapshot(dotted)
            current = vars(current)[parts[i]]
        return top_snap


def from_library_code(fromlist: Any) -> bool:
    """Whether an ``__import__`` call came from C code (``PyImport_Import`` passes a list as
    ``fromlist``; an import statement passes None or a tuple, and restricted code cannot reach
    ``__import__`` to pass anything else)."""
    return type(fromlist) is list and fromlist in ([], ["__doc__"])


def _standard_origin(spec: Any) -> bool:
    """Whether a module spec's file is built in, frozen or under the standard library's folders."""
    if spec is None:
        return False
    if spec.origin in ("built-in", "frozen"):
        return True
    if not spec.origin:
        return False
    folders = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    origin = os.path.realpath(spec.origin)
    return any(
        origin.startswith(os.path.realpath(folder) + os.sep) and "site-packages" not in origin
        for folder in folders
        if folder
    )


def is_standard_library(name: str) -> bool:
    """Whether ``name`` is a module of Python's standard library, found where it ships (not a
    file of the same name elsewhere on the path)."""
    top = name.split(".")[0]
    if top not in sys.stdlib_module_names:
        return False
    try:
        return _standard_origin(importlib.util.find_spec(top)) and _standard_origin(
            importlib.util.find_spec(name)
        )
    except (ImportError, ValueError):
        return False


class _LazySubmodule(Uncopyable):
    """Placeholder for an allowed submodule that has not been imported yet."""

    def __init__(self, gate: ModuleGate, name: str) -> None:
        self._gate = gate
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_") and attr not in ("__name__", "__doc__", "__all__"):
            # the snapshot's public names only, never its __dict__
            raise AttributeError(
                f"module {self._name!r}: {attr!r} is not available under the restricted policy"
            )
        return getattr(self._gate.snapshot(self._name), attr)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_gate", "_name") and name not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        raise PolicyError(f"cannot modify module {self._name!r}")

    def __repr__(self) -> str:
        return f"<module {self._name!r} (not yet imported)>"
