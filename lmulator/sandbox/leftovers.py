"""What a box leaves behind cannot stand in for an installed module at the next start.

``python -m lmulator run prog.py`` in a directory puts that directory first on ``sys.path``
before any of our code runs, so a ``runpy.py``, ``json.py`` or ``lmulator/`` a box wrote there
would run outside the box at the next start. So the broker *sweeps* the directories a box may
write: at the box's end (and, if the broker died, its janitor does, :mod:`.edges`), every
Python-loadable entry the box created or changed (not there at its start, or with another inode
or ``ctime`` than then: the box cannot set a ``ctime``) whose module name would shadow something
is *set aside*:
renamed ``NAME.boxed`` (a name Python never imports; nothing is deleted but compiled files in
``__pycache__``), with one line on stderr. At the broker's start, every shadowing entry at the top
of those directories is set aside, whoever wrote it (it could be a box whose broker was killed).

A name *shadows* when this Python's installation (standard library, built-in and frozen modules,
site-packages, editable installs) provides a module of that name from somewhere else, when it
is ``sitecustomize``/``usercustomize``, or, at the box's end, when code this process runs
imports it (an optional dependency that is not installed, such as ``brotli``). ``.pth`` files are
set aside too. A user's ``utils.py`` that shadows nothing is left alone: notebooks write helper
modules. Swept: the top of the workspace, of the extra write paths and of the broker's working
directory (if the box may write it), and at the box's end one level of subdirectories too (at
most :data:`MAX_SUBDIRS` each, hidden ones too, no symlinks), where a later ``python -m`` could
start; deeper directories are not swept.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.machinery import PathFinder, all_suffixes

from .importpath import inside, installed_spec, real

SET_ASIDE = ".boxed"
MAX_SUBDIRS = 10_000
MAX_CHILDREN = 1000
MAX_SNAPSHOT = 100_000
HOOKS = ("sitecustomize", "usercustomize")
SOURCE_SUFFIXES = (".py", ".pyc")


@dataclass(frozen=True)
class Entry:
    """A directory entry Python could import, and as what."""

    path: str
    name: str  # the top-level module name it would be imported as
    kind: str  # "module", "package", "namespace" (a directory without __init__) or "pth"


def module_name(filename: str) -> str | None:
    """The module a file of this name is imported as, or None (not Python-loadable)."""
    for suffix in sorted(all_suffixes(), key=len, reverse=True):
        if filename.endswith(suffix) and len(filename) > len(suffix):
            name = filename[: -len(suffix)]
            return name if "." not in name else None
    return None


def is_package(path: str) -> bool:
    """Whether the directory ``path`` is a regular package (has an ``__init__``)."""
    return any(os.path.isfile(os.path.join(path, "__init__" + s)) for s in all_suffixes())


def entries(directory: str) -> list[Entry]:
    """The Python-loadable entries directly in ``directory`` (names with a dot but a module's
    suffix are not: ``.hidden.py``, ``a.b.py`` and directories like ``.git`` cannot be imported
    as top-level modules)."""
    found = []
    try:
        listing = list(os.scandir(directory))
    except OSError:
        return []
    for item in listing:
        name = item.name
        if name.startswith(".") or name == "__pycache__":
            continue
        try:
            is_dir = item.is_dir()  # a symlink to a package is imported like one
        except OSError:
            continue
        if is_dir:
            if "." in name:  # not importable as a top-level module
                continue
            found.append(
                Entry(item.path, name, "package" if is_package(item.path) else "namespace")
            )
        elif name.endswith(".pth"):
            found.append(Entry(item.path, name[:-4], "pth"))
        else:
            module = module_name(name)
            if module:
                found.append(Entry(item.path, module, "module"))
    return found


def fingerprint(entry: Entry) -> tuple[int, int]:
    """The entry's inode and the last change (``ctime``, ns) to it or, for a directory, to
    anything directly in it; -1 for a directory too large to read."""
    try:
        stat = os.lstat(entry.path)
    except OSError:
        return (0, 0)
    latest = stat.st_ctime_ns
    if entry.kind in ("package", "namespace"):
        try:
            with os.scandir(entry.path) as listing:
                for n, item in enumerate(listing):
                    if n >= MAX_CHILDREN:
                        return (stat.st_ino, -1)
                    latest = max(latest, item.stat(follow_symlinks=False).st_ctime_ns)
        except OSError:
            pass
    return (stat.st_ino, latest)


def snapshot(directories: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The fingerprint of every Python-loadable entry in ``directories`` (at a box's start; at
    most :data:`MAX_SNAPSHOT`: entries past that count as changed at the end)."""
    found: dict[str, tuple[int, int]] = {}
    for directory in directories:
        for entry in entries(directory):
            if len(found) >= MAX_SNAPSHOT:
                return found
            found[entry.path] = fingerprint(entry)
    return found


def code_children(paths: Iterable[str]) -> set[str]:
    """The names of the source or bytecode modules and of the directories directly in
    ``paths`` (what a namespace package's portion may hold)."""
    names = set()
    for path in paths:
        try:
            listing = os.listdir(path)
        except OSError:
            continue
        for child in listing:
            if child.endswith(SOURCE_SUFFIXES):
                names.add(child.rsplit(".", 1)[0])
            elif child != "__pycache__" and os.path.isdir(os.path.join(path, child)):
                names.add(child)
    return names


def shadows(entry: Entry, path: Sequence[str]) -> str:
    """Why ``entry`` must not stay, in a few words ('' if it may): see the module's docstring."""
    name = entry.name
    if entry.kind == "pth":
        return "a .pth file runs its lines in a site directory"
    if name in HOOKS:
        return f"it would be the startup hook {name}"
    spec = installed_spec(name, path)
    if spec is not None and spec.origin in (None, "namespace") and spec.submodule_search_locations:
        portions = [real(p) for p in spec.submodule_search_locations]
        if real(entry.path) in portions:
            return ""
        theirs = code_children(portions)
        ours = code_children([entry.path]) if entry.kind != "module" else theirs
        return f"it would shadow the installed namespace package {name}" if theirs & ours else ""
    if entry.kind == "namespace":
        # the path-based finder takes a regular module of the name from a later path entry over
        # a folder without __init__.py; a module it does not find there (one a finder after it
        # provides: an editable install) is hidden by the folder
        if spec is None or spec.origin in ("built-in", "frozen"):
            return ""  # nothing of the name, or found before the path is searched
        regular = PathFinder.find_spec(name, list(path))
        if regular is not None and regular.loader is not None:
            return ""
        return f"it would hide the installed {name}, which no directory of the import path holds"
    if spec is not None:
        location = spec.origin if spec.origin and os.path.isabs(spec.origin) else None
        if location is not None:
            if spec.submodule_search_locations:
                location = os.path.dirname(location)
            if real(location) == real(entry.path):
                return ""  # it is the installation's own
        if name in sys.builtin_module_names:
            return f"it would shadow the built-in module {name}"
        if name in sys.stdlib_module_names:
            return f"it would shadow the standard library's {name}"
        return f"it would shadow the installed {name}" + (f" ({location})" if location else "")
    if name in sys.stdlib_module_names:  # part of the standard library, though not installed here
        return f"it would shadow the standard library's {name}"
    return ""


def loaded_sources() -> list[str]:
    """The source files of the modules this process has loaded."""
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return sorted({f for f in files if isinstance(f, str) and f.endswith(".py")})


IMPORTS = re.compile(
    rb"(?m)^[ \t]*from[ \t]+([A-Za-z_]\w*)|^[ \t]*import[ \t]+([\w. \t,]+)"
    rb"|(?:import_module|__import__)\([ \t]*['\"]([A-Za-z_]\w*)"
)  # fmt: skip


@lru_cache(maxsize=1)
def installed_sources() -> tuple[str, ...]:
    """Every Python source file of this installation (its standard library, site directories
    and our packages): any of them may run outside the box at a later start (``python -m
    cockernel install`` imports ``jupyter_client``, which tries ``orjson``)."""
    from .importpath import module_dirs

    found: dict[str, None] = {}
    for top in module_dirs():
        for folder, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if d != "__pycache__"]
            found.update((os.path.join(folder, f), None) for f in files if f.endswith(".py"))
    return tuple(found)


def _names_in(text: bytes) -> set[str]:
    """The top-level module names a source imports by name."""
    names: set[str] = set()
    for match in IMPORTS.finditer(text):
        first, listed, called = match.groups()
        if listed:  # import a.b, c as d
            names.update(
                p.split()[0].split(b".")[0].decode("ascii", "replace")
                for p in listed.split(b",")
                if p.split()
            )
        else:
            names.add((first or called).decode("ascii", "replace"))
    return names


def _installation_fingerprint() -> str:
    """What changes when packages are installed or removed: the installation's module
    directories and their entries, with their modification times."""
    from .importpath import module_dirs

    digest = hashlib.sha256(sys.version.encode())
    for top in module_dirs():
        try:
            children = sorted(os.scandir(top), key=lambda e: e.name)
            digest.update(f"{top}:{os.stat(top).st_mtime_ns}".encode())
            for child in children:
                digest.update(
                    f"{child.name}:{child.stat(follow_symlinks=False).st_mtime_ns}".encode()
                )
        except OSError:
            continue
    return digest.hexdigest()[:32]


@lru_cache(maxsize=1)
def installed_imports() -> frozenset[str]:
    """The top-level names any code of this installation imports, kept in the user's lmulator
    cache (outside every box's reach) until the installation changes."""
    from .importpath import data_dirs

    folder = data_dirs()[0] if data_dirs() else None
    cache = (
        os.path.join(folder, f"installed-imports-{_installation_fingerprint()}.json")
        if folder
        else None
    )
    if cache is not None:
        try:
            with open(cache, encoding="utf-8") as fh:
                names = json.load(fh)
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return frozenset(names)
        except (OSError, ValueError):
            pass
    found: set[str] = set()
    for file in installed_sources():
        try:
            with open(file, "rb") as fh:
                found |= _names_in(fh.read())
        except OSError:
            continue
    if cache is not None:
        try:
            os.makedirs(folder, exist_ok=True)  # type: ignore[arg-type]
            partial = f"{cache}.{os.getpid()}"
            with open(partial, "w", encoding="utf-8") as fh:
                json.dump(sorted(found), fh)
            os.replace(partial, cache)
        except OSError:
            pass
    return frozenset(found)


def imported_names(candidates: set[str], sources: Iterable[str]) -> set[str]:
    """Which of ``candidates`` the code in ``sources`` imports by name (an optional dependency
    is imported at the next start too, from the working directory if it is there)."""
    if not candidates:
        return set()
    names: set[str] = set()
    for file in sources:
        try:
            with open(file, "rb") as fh:
                names |= _names_in(fh.read())
        except OSError:
            continue
    return candidates & names


def set_aside(path: str) -> str:
    """Rename ``path`` to a free ``NAME.boxed`` (``.boxed.2``, ...) beside it; return the name."""
    target = path + SET_ASIDE
    n = 1
    while os.path.lexists(target):
        n += 1
        target = f"{path}{SET_ASIDE}.{n}"
    os.rename(path, target)
    return os.path.basename(target)


def remove_compiled(directory: str, names: set[str]) -> list[str]:
    """Delete the ``__pycache__`` files of the named modules."""
    cache = os.path.join(directory, "__pycache__")
    lines = []
    try:
        if not stat.S_ISDIR(os.lstat(cache).st_mode):  # a link could lead anywhere
            return []
        listing = os.listdir(cache)
    except OSError:
        return []
    for child in listing:
        full = os.path.join(cache, child)
        if child.split(".", 1)[0] not in names or not child.endswith(".pyc"):
            continue
        try:
            if not stat.S_ISREG(os.lstat(full).st_mode):
                continue
            os.unlink(full)
        except OSError:
            continue
        lines.append(f"removed {full}: compiled code of a module set aside")
    return lines


def sweep_directory(
    directory: str, path: Sequence[str], *, before: Mapping[str, Sequence[int]] | None,
    keep: Sequence[str] = (), sources: Sequence[str] | None = None,
    protected: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    """Set aside the shadowing entries of one directory: those created or changed since the
    :func:`snapshot` ``before``, or all if it is None; with ``sources``, names the code in them
    imports shadow too. Entries in ``protected`` (read-only inside the box: a change there was
    not the box's) are never touched. Return one line each."""
    found = [
        e
        for e in entries(directory)
        if real(e.path) not in keep and not inside(real(e.path), protected)
    ]
    if before is not None:
        found = [e for e in found if tuple(before.get(e.path, ())) != fingerprint(e)]
    reasons = {e.path: shadows(e, path) for e in found}
    if sources is not None:  # a namespace directory too: `from org.python.core import ...`
        quiet = {e.name for e in found if not reasons[e.path]}  # (copy.py) runs org/python/core.py
        imported = imported_names(quiet, sources) | (
            quiet & installed_imports() if quiet else set()
        )
        for name in imported:
            for e in found:
                if e.name == name and not reasons[e.path]:
                    reasons[e.path] = f"code outside the box imports {name} if it is there"
    lines, names = [], set()
    for e in found:
        if not reasons[e.path]:
            continue
        names.add(e.name)
        try:
            new = set_aside(e.path)
        except OSError as exc:
            lines.append(f"could not set aside {e.path} ({exc.strerror}): {reasons[e.path]}; "
                         "move it away")  # fmt: skip
            continue
        lines.append(f"set aside {e.path} as {new}: {reasons[e.path]}")
    return lines + remove_compiled(directory, names)


def subdirectories(directory: str, skip: Sequence[str]) -> list[str]:
    """The subdirectories of ``directory`` (not symlinks, not in ``skip``), at most
    :data:`MAX_SUBDIRS` + 1 (more than the maximum: not all were read)."""
    found = []
    try:
        listing = os.scandir(directory)
    except OSError:
        return []
    for item in listing:
        if item.name == "__pycache__":
            continue
        try:
            if not item.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        if inside(real(item.path), skip):
            continue
        found.append(item.path)
        if len(found) > MAX_SUBDIRS:
            break
    return found


def shared(directory: str) -> bool:
    """Whether ``directory`` is a shared one such as ``/tmp`` (writable by all, sticky): others
    make folders in it all the time, so what appears below it is not told to be the box's."""
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IWOTH and mode & stat.S_ISVTX)


def directories_to_sweep(
    writable: Sequence[str], protected: Sequence[str], cwd: str | None, *, subdirs: bool,
    skip: Sequence[str] = (), notes: list[str] | None = None,
) -> list[str]:  # fmt: skip
    """The directories a sweep looks into: each box-writable one (less ``skip``, and less the
    code directories, which the box could only read), the working directory if the box may
    write it, and with ``subdirs`` one level below each that is not :func:`shared` (at most :data:`MAX_SUBDIRS` each; a
    line in ``notes`` says where there were more)."""
    tops = [d for d in writable if d not in skip and not inside(d, protected) and os.path.isdir(d)]
    if cwd is not None and inside(real(cwd), tops) and not inside(real(cwd), protected):
        tops.append(real(cwd))
    found = dict.fromkeys(tops)
    if subdirs:
        for top in [t for t in found if not shared(t)]:
            below = subdirectories(top, protected)
            if len(below) > MAX_SUBDIRS and notes is not None:
                notes.append(f"{top} has more than {MAX_SUBDIRS} subdirectories: only "
                             f"{MAX_SUBDIRS} of them were swept")  # fmt: skip
            found.update(dict.fromkeys(below[:MAX_SUBDIRS]))
    return list(found)
