"""What our processes outside the box import: never a file the box can write.

A box may write its workspace, the extra ``write`` paths and its temporary directory (the
*box-writable* directories). The broker, before it starts a runner, takes every entry inside
them off its own ``sys.path`` (``''`` and ``.`` are the working directory), and refuses to start
if a module it has already imported came from one. The runner is started with ``-P`` (no
working directory or script directory on its path), in ``/`` (for the relative entries a
``.pth`` file may add), and with a ``PYTHONPATH`` without box-writable entries, so nothing a box
left behind is imported before it confines itself; it then enters its working directory and,
once confined, appends the workspace, the working directory and the box-writable
``PYTHONPATH`` entries to its path (:func:`restore_box_path`), after the installation, so a
workspace file never stands in for an installed module there either.

Not ``-I`` for the runner: it would also drop ``PYTHONHASHSEED``, ``PYTHONUNBUFFERED`` and
``PYTHONIOENCODING``, which the broker passes on on purpose (the compat benchmark runs with a
fixed hash seed); the runner's environment is the broker's choice, and its ``PYTHONPATH`` is the
only variable in it that could name a box-writable directory.

Directories this Python imports installed code from that lie inside a box-writable one (a
virtual environment in the notebook's folder, an editable checkout) are *code directories*:
the runner makes them read-only inside the box (:mod:`.readonly`) and they stay on the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import site
import sys
import sysconfig
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.machinery import BuiltinImporter, ModuleSpec, PathFinder

from .confine import SandboxError, workspace_of
from .spec import SandboxSpec

#: Set by the broker for the runner: JSON lists of the paths to append to ``sys.path`` once
#: confined, and of the code directories to make read-only before confining.
BOX_PATH_ENV = "LMULATOR_BOX_PATH"
READ_ONLY_ENV = "LMULATOR_BOX_READ_ONLY"
#: The runner starts in ``/`` (nothing relative on its path reaches a box-writable directory)
#: and enters this working directory just before it confines itself.
CWD_ENV = "LMULATOR_BOX_CWD"
#: Our own packages: where the installation has them is code outside the box, loaded or not.
OUR_PACKAGES = ("lmulator", "cockernel")
JUPYTER_DIRS = ("JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_CONFIG_PATH")
#: Where lmulator keeps what processes outside the box load: the embedded model's files and its
#: server's evaluated prompt states (named by these variables, else the user's cache folder).
DATA_DIRS = ("LMULATOR_CACHE_DIR", "LMULATOR_PROMPT_CACHE_DIR")


def real(path: str) -> str:
    """The resolved absolute path (``''`` and ``.`` are the working directory)."""
    return os.path.realpath(path or os.curdir)


def inside(path: str, dirs: Iterable[str]) -> bool:
    """Whether the resolved ``path`` is one of ``dirs`` (resolved) or lies beneath one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def box_writable(spec: SandboxSpec) -> tuple[str, ...]:
    """The directories a box with this spec may write, resolved: the workspace (unless the box
    only reads it), the extra ``write`` paths and the temporary directory."""
    found = [real(p) for p in spec.write]
    if spec.tmpdir:
        found.append(real(spec.tmpdir))
    if spec.mode != "read-only":
        workspace = workspace_of(spec)
        if workspace is not None:
            found.append(workspace)
    return tuple(dict.fromkeys(found))


def installation_dirs() -> list[str]:
    """Where this Python and its installed code are (resolved): its prefixes and the
    interpreter's directory, :func:`module_dirs` and :func:`data_dirs`."""
    dirs = [sys.prefix, sys.exec_prefix, os.path.dirname(sys.executable)]
    return list(dict.fromkeys([real(d) for d in dirs] + module_dirs() + data_dirs()))


def data_dirs() -> list[str]:
    """Where lmulator keeps files that processes outside the box load (the embedded model, its
    evaluated prompt states), resolved: what a box wrote there would be read by the next server."""
    dirs = [os.environ.get(variable, "") for variable in DATA_DIRS]
    if not dirs[0]:
        from platformdirs import user_cache_dir

        dirs[0] = user_cache_dir("lmulator")
    return [real(d) for d in dirs if os.path.isabs(d)]


def module_dirs() -> list[str]:
    """Where this Python imports installed code from (resolved): its standard library, site
    directories (the user's too), the ``sys.path`` entries the site module added, the
    directories of our own packages (an editable install maps them anywhere), and the Jupyter
    directories the environment names (kernelspecs say what Jupyter runs)."""
    paths = sysconfig.get_paths()
    dirs = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    dirs += site.getsitepackages()
    dirs.append(site.getusersitepackages())
    dirs += installation_path_entries()
    for name in OUR_PACKAGES:
        dirs += package_locations(name)
    for variable in JUPYTER_DIRS:  # kernelspecs (the commands Jupyter runs) and its config files
        dirs += [p for p in os.environ.get(variable, "").split(os.pathsep) if os.path.isabs(p)]
    return list(dict.fromkeys(real(d) for d in dirs if d))


def installation_path_entries() -> list[str]:
    """``sys.path`` less the entries that come from how Python was started rather than from the
    installation: the script's directory or working directory, and ``PYTHONPATH``."""
    accidental: set[str] = set()
    if not sys.flags.safe_path and sys.path:
        accidental.add(real(sys.path[0]))
    if not sys.flags.ignore_environment and os.environ.get("PYTHONPATH"):
        accidental.update(real(p) for p in os.environ["PYTHONPATH"].split(os.pathsep))
    return [p for p in sys.path if real(p) not in accidental]


def package_locations(name: str) -> list[str]:
    """The directories the installation (not the working directory) provides ``name`` from."""
    spec = installed_spec(name, installation_path_entries())
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return list(spec.submodule_search_locations)
    return [spec.origin] if spec.origin and os.path.isabs(spec.origin) else []


def _first_words(path: tuple[str, ...]) -> frozenset[str] | None:
    """What the names of the entries of the directories ``path`` start with (before a dot): a
    module the path-based finder finds there has one of them as its name; None if an entry is
    not a directory (a zip file)."""
    words: set[str] = set()
    for entry in path:
        if not os.path.isdir(entry or os.curdir):
            if os.path.exists(entry):
                return None
            continue
        try:
            words.update(child.split(".", 1)[0] for child in os.listdir(entry or os.curdir))
        except OSError:
            return None
    return frozenset(words)


_listings: dict[tuple[str, ...], tuple[float, tuple[int, ...], frozenset[str] | None]] = {}


def _path_may_have(name: str, path: Sequence[str]) -> bool:
    """Whether the path-based finder could find ``name`` in ``path`` (a quick, safe test on
    the directories' listings, read again when one has changed: checked at most once a
    second)."""
    key = tuple(path)
    now = time.monotonic()
    seen = _listings.get(key)
    if seen is None or now - seen[0] > 1.0:
        stamp = tuple(_mtime(entry) for entry in key)
        if seen is None or seen[1] != stamp:
            if len(_listings) > 8:
                _listings.clear()
            seen = (now, stamp, _first_words(key))
        else:
            seen = (now, stamp, seen[2])
        _listings[key] = seen
    words = seen[2]
    return words is None or name in words


def _mtime(entry: str) -> int:
    try:
        return os.stat(entry or os.curdir).st_mtime_ns
    except OSError:
        return 0


def installed_spec(name: str, path: Sequence[str]) -> ModuleSpec | None:
    """How this Python's installation provides the top-level module ``name`` (None: it does
    not): its import finders in order, the path-based one searching ``path`` only."""
    if name in sys.builtin_module_names:
        return ModuleSpec(name, None, origin="built-in")
    for finder in sys.meta_path:
        if finder is BuiltinImporter:
            continue
        if finder is PathFinder:
            if not _path_may_have(name, path):
                continue
            spec = PathFinder.find_spec(name, list(path))
        else:
            try:
                spec = finder.find_spec(name, None)  # FrozenImporter, editable installs, ...
            except Exception:  # a third-party finder's failure says nothing about the name
                spec = None
        if spec is not None:
            return spec
    return None


def code_dirs(writable: Sequence[str]) -> tuple[str, ...]:
    """The code directories in box-writable ones, each widened to its topmost directory below
    the writable one (a mount point there cannot be renamed away by the box); a writable
    directory that lies inside a directory of modules is all code."""
    found = [top for top in writable if inside(top, [d for d in module_dirs() if d != "/"])]
    for path in data_dirs():  # made now if the box could make it: the box finds it read-only
        if inside(path, writable) and path not in writable:
            with contextlib.suppress(OSError):
                os.makedirs(path, exist_ok=True)
    for path in installation_dirs():
        if not os.path.exists(path):
            continue
        for top in writable:
            if path == top:
                found.append(top)
            elif path.startswith(top.rstrip("/") + "/"):
                first = path[len(top.rstrip("/")) + 1 :].split("/")[0]
                found.append(os.path.join(top, first))
    found = sorted(set(found))
    return tuple(p for p in found if not inside(p, [q for q in found if q != p]))


def clean_sys_path(writable: Sequence[str], keep: Sequence[str]) -> list[str]:
    """Take every box-writable entry (not in a kept code directory) off ``sys.path``, and
    forget the finders cached for paths; return the entries taken."""
    removed = [p for p in sys.path if inside(real(p), writable) and not inside(real(p), keep)]
    sys.path[:] = [p for p in sys.path if p not in removed]
    sys.path_importer_cache.clear()
    return removed


def loaded_from(writable: Sequence[str], keep: Sequence[str]) -> list[tuple[str, str]]:
    """The modules this process has imported from box-writable directories (not from a kept
    code directory), as (name, file)."""
    found = []
    for name, module in list(sys.modules.items()):
        files = [getattr(module, "__file__", None)]
        files += list(getattr(module, "__path__", None) or [])
        for file in files:
            if isinstance(file, str) and os.path.isabs(file):
                path = real(file)
                if inside(path, writable) and not inside(path, keep):
                    found.append((name, path))
                    break
    return sorted(found)


def refuse_loaded(writable: Sequence[str], keep: Sequence[str]) -> None:
    """Raise SandboxError (one line) if this process has run a module a box could write."""
    found = loaded_from(writable, keep)
    if found:
        name, path = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SandboxError(
            f"this process imported {name} from {path}{more}, which the sandbox may write; "
            "code outside the box never runs a file from inside it: move the file away (or "
            "start from another directory) and start again"
        )


def python_command(module: str, args: Sequence[str] = ()) -> list[str]:
    """The command line that runs ``module`` in this Python without the working directory on
    its path (``-P``); the environment (``PYTHONHASHSEED``, ...) still applies."""
    return [sys.executable, "-P", "-m", module, *args]


@dataclass(frozen=True)
class RunnerPath:
    """How a runner's import path is split around its confinement."""

    pythonpath: str | None  # PYTHONPATH for its start: the entries no box can write
    after: tuple[str, ...]  # appended to sys.path once it is confined

    def environment(self, read_only: Sequence[str]) -> dict[str, str]:
        """The variables that tell the runner (besides ``PYTHONPATH``)."""
        return {
            BOX_PATH_ENV: json.dumps(list(self.after)),
            READ_ONLY_ENV: json.dumps(list(read_only)),
        }


def split_pythonpath(
    env: Mapping[str, str], cwd: str, workspace: str | None, writable: Sequence[str],
    keep: Sequence[str],
) -> RunnerPath:  # fmt: skip
    """The runner's ``PYTHONPATH`` without box-writable entries, and what it appends once
    confined: the workspace, the working directory and the box-writable entries."""
    start, after = [], []
    for entry in env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []:
        path = os.path.join(cwd, entry) if entry else cwd
        if inside(real(path), writable) and not inside(real(path), keep):
            after.append(os.path.abspath(path))
        else:
            start.append(os.path.abspath(path))
    head = [p for p in (workspace, cwd) if p]
    return RunnerPath(os.pathsep.join(start) if start else None, tuple(dict.fromkeys(head + after)))


def restore_box_path(text: str | None) -> list[str]:
    """Append the paths the broker listed (JSON) to ``sys.path``, with ``''`` last so that
    IPython does not put the working directory before the installed packages; return them."""
    try:
        entries = json.loads(text or "[]")
    except ValueError:
        entries = []
    added = [p for p in dict.fromkeys(entries) if isinstance(p, str) and p not in sys.path]
    sys.path.extend(added)
    if entries and "" not in sys.path:
        sys.path.append("")
    return added
