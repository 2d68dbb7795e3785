"""The rules behind the sweep and the import path, one at a time (in this process)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lmulator.sandbox import SandboxError, SandboxSpec
from lmulator.sandbox.importpath import (
    box_writable,
    clean_sys_path,
    code_dirs,
    installation_path_entries,
    loaded_from,
    real,
    refuse_loaded,
    restore_box_path,
    split_pythonpath,
)
from lmulator.sandbox.leftovers import (
    MAX_SUBDIRS,
    Entry,
    directories_to_sweep,
    entries,
    imported_names,
    set_aside,
    shadows,
    snapshot,
    sweep_directory,
)

PATH = installation_path_entries()


def why(path: Path, kind: str = "module", name: str | None = None) -> str:
    return shadows(Entry(str(path), name or path.name.split(".")[0], kind), PATH)


def test_what_shadows_is_computed_from_the_installation(tmp_path):
    for name in ("json.py", "secrets.py", "runpy.py", "winreg.py"):  # winreg: not on Linux
        assert "standard library" in why(tmp_path / name), name
    assert "built-in" in why(tmp_path / "sys.py")
    (tmp_path / "openai").mkdir()
    assert "installed openai" in why(tmp_path / "openai", "package")
    assert "startup hook" in why(tmp_path / "sitecustomize.py")
    assert ".pth" in why(tmp_path / "x.pth", "pth", "x")
    assert why(tmp_path / "analysis_helpers.py") == ""
    assert why(tmp_path / "json", "namespace") == ""  # the real json is found after it


def test_the_installations_own_module_does_not_shadow_itself():
    import openai

    location = Path(openai.__file__).parent
    assert why(location, "package") == ""


def test_a_namespace_directory_shadows_only_the_modules_it_shares(tmp_path):
    site, work = tmp_path / "site", tmp_path / "work"
    (site / "nsdemo_pkg").mkdir(parents=True)
    (site / "nsdemo_pkg" / "core.py").write_text("")
    (work / "nsdemo_pkg").mkdir(parents=True)
    entry = Entry(str(work / "nsdemo_pkg"), "nsdemo_pkg", "namespace")
    (work / "nsdemo_pkg" / "extra.py").write_text("")
    assert shadows(entry, [str(site)]) == ""
    (work / "nsdemo_pkg" / "core.py").write_text("")
    assert "namespace package nsdemo_pkg" in shadows(entry, [str(site)])


def test_entries_are_what_python_could_import(tmp_path):
    for name in ("a.py", "b.pyc", "c.cpython-311-x86_64-linux-gnu.so", "d.pth", "e.txt",
                 ".hidden.py", "f.g.py"):  # fmt: skip
        (tmp_path / name).write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "ns").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "pkg")
    found = {(e.name, e.kind) for e in entries(str(tmp_path))}
    assert found == {("a", "module"), ("b", "module"), ("c", "module"), ("d", "pth"),
                     ("pkg", "package"), ("ns", "namespace"), ("link", "package")}  # fmt: skip


def test_a_sweep_sets_aside_what_changed_and_shadows_and_leaves_the_rest(tmp_path):
    old = tmp_path / "csv.py"
    old.write_text("# the user's own, from before\n")
    (tmp_path / "kept.py").write_text("")
    before = snapshot([str(tmp_path)])
    (tmp_path / "json.py").write_text("")  # new, shadowing
    (tmp_path / "mine.py").write_text("")  # new, shadows nothing
    (tmp_path / "os").mkdir()
    (tmp_path / "os" / "__init__.py").write_text("")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "json.cpython-311.pyc").write_bytes(b"")
    (tmp_path / "__pycache__" / "mine.cpython-311.pyc").write_bytes(b"")
    lines = sweep_directory(str(tmp_path), PATH, before=before)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "__pycache__", "csv.py", "json.py.boxed", "kept.py", "mine.py", "os.boxed"]  # fmt: skip
    assert os.listdir(tmp_path / "__pycache__") == ["mine.cpython-311.pyc"]
    assert len(lines) == 3 and any("json.py.boxed" in line for line in lines)
    os.chmod(old, 0o600)  # changed during the box's life (ctime): now it goes too
    sweep_directory(str(tmp_path), PATH, before=before)
    assert not old.exists() and (tmp_path / "csv.py.boxed").exists()


def test_what_is_read_only_in_the_box_is_never_set_aside(tmp_path):
    """A code directory inside the workspace (an editable checkout) is read-only in the box: a
    change there is the user's, however it shadows."""
    (tmp_path / "lmulator").mkdir()
    init = tmp_path / "lmulator" / "__init__.py"
    init.write_text("")
    before = snapshot([str(tmp_path)])
    init.write_text("# edited outside the box while it ran\n")
    os.chmod(init, 0o600)
    protected = [real(str(tmp_path / "lmulator"))]
    assert sweep_directory(str(tmp_path), PATH, before=before, protected=protected) == []
    assert init.exists()
    assert sweep_directory(str(tmp_path), PATH, before=before) != []  # unprotected: it goes
    assert (tmp_path / "lmulator.boxed").exists()


def test_at_start_everything_shadowing_goes_but_what_is_kept(tmp_path):
    (tmp_path / "json.py").write_text("")
    (tmp_path / "random.py").write_text("")
    lines = sweep_directory(
        str(tmp_path), PATH, before=None, keep=[real(str(tmp_path / "random.py"))]
    )
    assert len(lines) == 1 and (tmp_path / "random.py").exists()
    assert (tmp_path / "json.py.boxed").exists()


def test_a_namespace_directory_that_outside_code_imports_from_is_set_aside(tmp_path):
    """copy.py tries `from org.python.core import PyStringMap`: an org/ folder the box makes,
    with no __init__, would run at the next start from here."""
    import copy

    before = snapshot([str(tmp_path)])
    (tmp_path / "org" / "python").mkdir(parents=True)
    (tmp_path / "org" / "python" / "core.py").write_text("PyStringMap = None\n")
    (tmp_path / "notes").mkdir()  # a folder of the user's: nothing outside imports it
    lines = sweep_directory(str(tmp_path), PATH, before=before, sources=[copy.__file__])
    assert (tmp_path / "org.boxed").exists() and (tmp_path / "notes").exists(), lines


def test_a_shared_directory_is_swept_at_its_top_only(tmp_path):
    shared_dir = tmp_path / "shared"
    (shared_dir / "someone").mkdir(parents=True)
    os.chmod(shared_dir, 0o1777)
    assert directories_to_sweep([str(shared_dir)], [], None, subdirs=True) == [
        real(str(shared_dir))]  # fmt: skip
    os.chmod(shared_dir, 0o755)
    assert len(directories_to_sweep([str(shared_dir)], [], None, subdirs=True)) == 2


def test_names_that_running_code_imports_count_when_given_its_sources(tmp_path):
    source = tmp_path / "code.py"
    source.write_text(
        "try:\n    import zz_one\nexcept ImportError:\n    pass\n"
        "from zz_two.sub import x\nimport os, zz_three as z3\n"
        "importlib.import_module('zz_four')\n# zz_five is only mentioned\n"
    )
    names = {"zz_one", "zz_two", "zz_three", "zz_four", "zz_five"}
    assert imported_names(names, [str(source)]) == names - {"zz_five"}
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "zz_one.py").write_text("")
    (tmp_path / "ws" / "zz_five.py").write_text("")
    sweep_directory(str(tmp_path / "ws"), PATH, before={}, sources=[str(source)])
    assert sorted(os.listdir(tmp_path / "ws")) == ["zz_five.py", "zz_one.py.boxed"]


def test_set_aside_never_overwrites(tmp_path):
    for _ in range(3):
        (tmp_path / "json.py").write_text("x")
        set_aside(str(tmp_path / "json.py"))
    assert sorted(os.listdir(tmp_path)) == ["json.py.boxed", "json.py.boxed.2", "json.py.boxed.3"]


def test_the_directories_swept(tmp_path):
    ws, other = tmp_path / "ws", tmp_path / "elsewhere"
    for d in ("a", "b", ".git", "code"):
        (ws / d).mkdir(parents=True)
    other.mkdir()
    (ws / "linked").symlink_to(other)
    found = directories_to_sweep([str(ws)], [str(ws / "code")], str(tmp_path), subdirs=True)
    assert sorted(found) == [str(ws), str(ws / ".git"), str(ws / "a"), str(ws / "b")]
    assert directories_to_sweep([str(ws)], [], str(ws / "a"), subdirs=False) == [
        str(ws),
        str(ws / "a"),
    ]
    for n in range(MAX_SUBDIRS):
        (ws / f"d{n:05}").mkdir()
    notes: list[str] = []
    found = directories_to_sweep([str(ws)], [], None, subdirs=True, notes=notes)
    assert len(found) == 1 + MAX_SUBDIRS and len(notes) == 1 and "only" in notes[0]


def test_box_writable_directories_follow_the_spec(tmp_path):
    write = tmp_path / "out"
    spec = SandboxSpec(
        workspace=str(tmp_path / "ws"), write=(str(write),), tmpdir=str(tmp_path / "t")
    )
    assert set(box_writable(spec)) == {
        real(str(p)) for p in (write, tmp_path / "t", tmp_path / "ws")
    }
    assert real(str(tmp_path / "ws")) not in box_writable(spec.with_(mode="read-only"))


def test_the_import_path_loses_box_writable_entries(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    (ws / "code").mkdir(parents=True)
    monkeypatch.setattr(sys, "path", ["", str(ws), str(ws / "code"), str(tmp_path), "rel"])
    monkeypatch.chdir(ws)
    removed = clean_sys_path([real(str(ws))], [real(str(ws / "code"))])
    assert removed == ["", str(ws), "rel"]  # relative entries are relative to the cwd
    assert sys.path == [str(ws / "code"), str(tmp_path)]


def test_the_runners_pythonpath_is_split_around_its_confinement(tmp_path):
    ws = real(str(tmp_path / "ws"))
    env = {"PYTHONPATH": os.pathsep.join(["", "lib", "/opt/tools", f"{ws}/src"])}
    split = split_pythonpath(env, ws, ws, [ws], [])
    assert split.pythonpath == "/opt/tools"
    assert split.after == (ws, f"{ws}/lib", f"{ws}/src")
    assert split_pythonpath({}, "/", ws, [ws], []).pythonpath is None


def test_the_box_path_goes_after_the_installation(monkeypatch):
    monkeypatch.setattr(sys, "path", ["/usr/lib/python3.11"])
    assert restore_box_path('["/ws", "/ws"]') == ["/ws"]
    assert sys.path == ["/usr/lib/python3.11", "/ws", ""]


def test_code_directories_are_the_installation_inside_a_writable_directory():
    prefix = real(sys.prefix)
    parent = os.path.dirname(prefix)
    found = code_dirs([parent])
    assert any(prefix == d or prefix.startswith(d + "/") for d in found)
    assert all(os.path.dirname(d) == parent for d in found)
    assert code_dirs(["/nonexistent-box"]) == ()
    import openai  # a workspace inside installed code is code as a whole

    package = real(os.path.dirname(openai.__file__))
    assert code_dirs([os.path.join(package, "types")]) == (os.path.join(package, "types"),)


def test_modules_loaded_from_a_writable_directory_are_named():
    import lmulator

    package = real(os.path.dirname(lmulator.__file__))
    top = os.path.dirname(package)
    assert ("lmulator", real(lmulator.__file__)) in loaded_from([top], [])
    assert not any(name == "lmulator" for name, _ in loaded_from([top], [package]))
    with pytest.raises(SandboxError, match="the sandbox may write"):
        refuse_loaded([top], [])


def test_compiled_files_are_removed_only_from_a_real_pycache(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "json.cpython-311.pyc").write_bytes(b"")
    (elsewhere / "json").write_text("not compiled code")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "__pycache__").symlink_to(elsewhere)
    (ws / "json.py").write_text("")
    sweep_directory(str(ws), PATH, before={})
    assert (ws / "json.py.boxed").exists()
    assert sorted(os.listdir(elsewhere)) == ["json", "json.cpython-311.pyc"]


def test_a_jupyter_directory_in_the_workspace_is_code(tmp_path, monkeypatch):
    (tmp_path / "share" / "jupyter").mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    assert code_dirs([real(str(tmp_path))]) == (real(str(tmp_path / "share")),)


def test_the_model_cache_in_the_workspace_is_code(tmp_path, monkeypatch):
    """The embedded server, outside the box, loads model files and prompt states from here."""
    monkeypatch.setenv("LMULATOR_CACHE_DIR", str(tmp_path / "cache" / "lmulator"))
    monkeypatch.setenv("LMULATOR_PROMPT_CACHE_DIR", str(tmp_path / "states"))
    found = code_dirs([real(str(tmp_path))])
    assert found == (real(str(tmp_path / "cache")), real(str(tmp_path / "states")))
    assert (tmp_path / "cache" / "lmulator").is_dir()  # made first, so the box cannot make it


USERNS = """
import ctypes, errno, json, os
from lmulator.sandbox import readonly
CODE, OTHER = {code!r}, {other!r}
plain = readonly._libc
class NoMountNamespace:  # as for a user without privileges: only through a user namespace
    def __init__(self):
        self.libc = plain()
    def __getattr__(self, name):
        return getattr(self.libc, name)
    def unshare(self, flags):
        if flags == readonly.CLONE_NEWNS:
            ctypes.set_errno(errno.EPERM)
            return -1
        return self.libc.unshare(flags)
readonly._libc = NoMountNamespace
readonly.make_read_only([CODE])
out = {{"uid_map": open("/proc/self/uid_map").read().split()}}
for path in (os.path.join(CODE, "x"), OTHER):
    try:
        open(path, "w").close()
        out[path] = "written"
    except OSError as exc:
        out[path] = exc.strerror
print(json.dumps(out))
"""


def test_without_privileges_code_directories_are_read_only_through_a_user_namespace(tmp_path):
    from .helpers import run_python

    code, other = tmp_path / "code", tmp_path / "other"
    code.mkdir()
    proc = run_python(USERNS.format(code=str(code), other=str(other)))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out[str(code / "x")] == "Read-only file system" and out[str(other)] == "written"
    assert out["uid_map"][:2] == [str(os.getuid()), str(os.getuid())]
    assert not (code / "x").exists()


class _MetaOnly:
    """A finder after the path-based one that alone provides a module (as an editable install's
    finder provides the project)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        from importlib.machinery import ModuleSpec

        return (
            ModuleSpec(name, None, origin="/elsewhere/meta_only_mod.py")
            if name == "zz_meta_only"
            else None
        )


def test_a_folder_without_init_hides_a_module_only_a_later_finder_provides(tmp_path, monkeypatch):
    from lmulator.sandbox.leftovers import Entry, shadows

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, _MetaOnly])
    path = [p for p in sys.path if p]
    folder = tmp_path / "zz_meta_only"
    folder.mkdir()
    why = shadows(Entry(str(folder), "zz_meta_only", "namespace"), path)
    assert why.startswith("it would hide the installed zz_meta_only")
    # a module the path holds wins over a folder without __init__.py: the folder may stay
    (tmp_path / "code").mkdir()
    assert shadows(Entry(str(tmp_path / "code"), "code", "namespace"), path) == ""


def test_optional_imports_of_any_installed_code_count_not_only_the_running_codes(tmp_path):
    """``python -m cockernel install`` imports jupyter_client, which tries orjson: a module the
    box leaves under a name any installed code imports is set aside, loaded or not."""
    import importlib.util

    from lmulator.sandbox.leftovers import installed_imports

    imported = installed_imports()
    assert {"json", "os"} <= imported and "zz_nobody_imports_this" not in imported
    missing = sorted(
        n for n in imported if n.isidentifier() and importlib.util.find_spec(n) is None
    )
    assert missing, "some installed code tries an optional dependency that is not installed"
    optional = missing[0]
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / f"{optional}.py").write_text("")
    (ws / "my_helpers.py").write_text("")  # a helper nothing installed imports stays
    lines = sweep_directory(str(ws), PATH, before={}, sources=[])
    assert set(os.listdir(ws)) == {"my_helpers.py", f"{optional}.py.boxed"}, lines
