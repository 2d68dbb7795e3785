"""A file written from inside the box is never imported or run by a process outside it.

Each payload module appends to a canary file outside the workspace when it is imported; the box
cannot write there, so a canary line means the module ran outside the box. The kernel tests use
a kernelspec made from :func:`cockernel.install.kernel_json` (the one ``python -m cockernel
install`` writes), started by jupyter_client in the notebook's folder, as Jupyter does.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
from pathlib import Path

import pytest

import cockernel
from cockernel.install import kernel_json

from ..kernel.helpers import Kernel

SPEC_NAME = "coc-persistence"


def canary_module(canary: Path, label: str) -> str:
    """Source that records ``label`` and the process in ``canary`` when imported."""
    return (
        "import os, sys\n"
        "try:\n"
        f"    with open({str(canary)!r}, 'a') as fh:\n"
        f"        fh.write({label!r} + ' ' + str(os.getpid()) + ' ' + repr(sys.argv) + '\\n')\n"
        "except Exception:\n"
        "    pass\n"
    )


def fired(canary: Path) -> str:
    """What the canary recorded ('' if nothing ran outside the box)."""
    return canary.read_text() if canary.exists() else ""


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m lmulator ARGS`` in ``cwd``, as a user types it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    full.update(LMULATOR_CACHE="off", **(env or {}))
    return subprocess.run([sys.executable, "-m", "lmulator", *args], capture_output=True,
                          text=True, env=full, cwd=cwd, timeout=120)  # fmt: skip


def janitors_of(directory: Path) -> list[int]:
    """The janitors (:mod:`lmulator.sandbox.edges`) of boxes started in ``directory``."""
    found = []
    for name in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"janitor_main" in a for a in argv) and str(directory).encode() in argv:
            found.append(int(name))
    return found


def wait_for_janitors(directory: Path, timeout: float = 20) -> None:
    """Wait until the janitors of ``directory``'s boxes have swept and ended."""
    for pid in janitors_of(directory):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"the janitor {pid} did not end within {timeout} s"
        finally:
            os.close(fd)


@pytest.fixture
def kernelspec(tmp_path, monkeypatch):
    """The coc kernelspec as ``python -m cockernel install`` writes it, under its own name."""
    spec = tmp_path / "jupyter" / "kernels" / SPEC_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(kernel_json("coc (persistence test)")))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return SPEC_NAME


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "notebooks"
    ws.mkdir()
    return ws


def start_kernel(workspace: Path, env: dict[str, str] | None = None) -> Kernel:
    return Kernel(env={"LMULATOR_CACHE": "off", **(env or {})}, kernel_name=SPEC_NAME,
                  cwd=str(workspace))  # fmt: skip


def test_the_kernelspec_starts_the_broker_isolated():
    argv = kernel_json()["argv"]
    assert argv[1:4] == ["-I", "-m", "cockernel"]
    shipped = json.loads(
        Path(cockernel.__file__).with_name("resources").joinpath("kernel.json").read_text()
    )
    assert shipped["argv"][:4] == ["python", "-I", "-m", "cockernel"]


def test_modules_a_restricted_cell_writes_with_history_never_run_outside_the_box(
    kernelspec, workspace, tmp_path
):
    canary = tmp_path / "canary"
    kernel = start_kernel(workspace)
    try:
        # The history file is Python: its first line records the canary when imported.
        kernel.run(canary_module(canary, "history"))
        for name in ("secrets", "json", "tempfile"):
            ex = kernel.run(f"%history -f {name}.py")
            assert ex.status == "ok", ex.of("error")
        assert (workspace / "secrets.py").exists()
        assert "canary" in (workspace / "json.py").read_text()
    finally:
        kernel.close()
    again = start_kernel(workspace)  # the next start, in the same folder
    try:
        ex = again.run("%policy trusted\nimport secrets, json, tempfile\nlen(secrets.token_hex(4))")
        assert ex.result == "8", ex.of("error")
    finally:
        again.close()
    wait_for_janitors(workspace)
    for name in ("secrets", "json", "tempfile"):
        assert not (workspace / f"{name}.py").exists()
        assert (workspace / f"{name}.py.boxed").exists()
    assert fired(canary) == ""


def test_what_a_trusted_cell_writes_never_runs_outside_the_box_and_helpers_still_import(
    kernelspec, workspace, tmp_path
):
    canary = tmp_path / "canary"
    payload = {
        "json.py": canary_module(canary, "json"),
        "cockernel/__init__.py": canary_module(canary, "cockernel"),
        "lmulator/__init__.py": canary_module(canary, "lmulator"),
        "jupyter_client/__init__.py": canary_module(canary, "jupyter_client"),
        "sitecustomize.py": canary_module(canary, "sitecustomize"),
        "DateTime.py": canary_module(canary, "DateTime"),  # RestrictedPython tries to import it
        "evil.pth": f"import os; open({str(canary)!r}, 'a').write('pth\\n')\n",
        "analysis_helpers.py": "def double(x):\n    return 2 * x\n",
    }
    kernel = start_kernel(workspace)
    try:
        kernel.run("%policy trusted")
        code = (
            "import os\n"
            f"for name, text in {payload!r}.items():\n"
            "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
            "    open(name, 'w').write(text)\n"
            "import analysis_helpers\n"
            "analysis_helpers.double(21)"
        )
        ex = kernel.run(code)
        assert ex.result == "42", ex.of("error")
    finally:
        kernel.close()  # Jupyter kills the broker: its janitor sweeps
    wait_for_janitors(workspace)
    proc = cli("run", "--mode", "python", "benign.py", cwd=_with_benign(workspace))
    assert proc.returncode == 0 and proc.stdout == "benign\n", proc.stderr
    again = start_kernel(workspace)
    try:
        ex = again.run("%policy trusted\nimport analysis_helpers\nanalysis_helpers.double(2)")
        assert ex.result == "4", ex.of("error")
    finally:
        again.close()
    assert fired(canary) == ""
    assert (workspace / "analysis_helpers.py").exists()  # shadows nothing: left alone
    for name in ("json.py", "cockernel", "lmulator", "jupyter_client", "sitecustomize.py",
                 "DateTime.py", "evil.pth"):  # fmt: skip
        assert not (workspace / name).exists(), name
        assert (workspace / f"{name}.boxed").exists(), name


def _with_benign(workspace: Path) -> Path:
    (workspace / "benign.py").write_text("print('benign')\n")
    return workspace


def test_leftovers_already_in_the_folder_never_run_in_the_next_kernels_broker(
    kernelspec, workspace, tmp_path
):
    """As if a box's broker and its janitor had both been killed: the next start imports none
    of them, and leaves them where they are (they may be the user's own)."""
    canary = tmp_path / "canary"
    for name in ("json", "tempfile", "secrets", "signal", "threading", "subprocess"):
        (workspace / f"{name}.py").write_text(canary_module(canary, name))
    (workspace / "lmulator").mkdir()
    (workspace / "lmulator" / "__init__.py").write_text(canary_module(canary, "lmulator"))
    kernel = start_kernel(workspace)
    try:
        assert kernel.run("6 * 7").result == "42"
    finally:
        kernel.close()
    assert fired(canary) == ""
    assert not [p.name for p in workspace.iterdir() if p.name.endswith(".boxed")]
    assert (workspace / "json.py").exists() and (workspace / "lmulator" / "__init__.py").exists()


def test_what_a_program_writes_is_set_aside_before_the_next_run(tmp_path, workspace):
    canary = tmp_path / "canary"
    helper = f"helper_{random.getrandbits(40):x}"
    (workspace / "payload.py").write_text(
        "import os\n"
        f"files = {{'lmulator/__init__.py': {canary_module(canary, 'lmulator')!r},\n"
        f"         'runpy.py': {canary_module(canary, 'runpy')!r},\n"
        f"         'openai/__init__.py': {canary_module(canary, 'openai')!r},\n"
        f"         'sub/json.py': {canary_module(canary, 'sub/json')!r},\n"
        f"         '{helper}.py': 'VALUE = 7\\n'}}\n"
        "for name, text in files.items():\n"
        "    os.makedirs(os.path.dirname(name) or '.', exist_ok=True)\n"
        "    open(name, 'w').write(text)\n"
        f"import {helper}\n"
        f"print({helper}.VALUE)\n"
    )
    first = cli("run", "--policy", "trusted", "--mode", "python", "payload.py", cwd=workspace)
    assert first.returncode == 0 and first.stdout == "7\n", first.stderr
    assert "set aside" in first.stderr and "runpy.py.boxed" in first.stderr
    second = cli("run", "--mode", "python", "benign.py", cwd=_with_benign(workspace))
    assert second.returncode == 0 and second.stdout == "benign\n", second.stderr
    third = cli("run", "--mode", "python", "benign.py", cwd=workspace / "sub")
    assert third.returncode == 2  # no benign.py there; but nothing of the box ran either
    assert fired(canary) == ""
    assert (workspace / f"{helper}.py").read_text() == "VALUE = 7\n"
    for name in ("lmulator", "runpy.py", "openai", "sub/json.py"):
        assert not (workspace / name).exists() and (workspace / f"{name}.boxed").exists(), name


def test_any_standard_library_name_a_box_writes_is_set_aside(tmp_path, workspace):
    canary = tmp_path / "canary"
    module, package = random.sample(sorted(sys.stdlib_module_names), 2)
    (workspace / "payload.py").write_text(
        "import os\n"
        f"open({module + '.py'!r}, 'w').write({canary_module(canary, module)!r})\n"
        f"os.makedirs({package!r})\n"
        f"open({package + '/__init__.py'!r}, 'w').write({canary_module(canary, package)!r})\n"
    )
    first = cli("run", "--policy", "trusted", "--mode", "python", "payload.py", cwd=workspace)
    assert first.returncode == 0, first.stderr
    second = cli("run", "--mode", "python", "benign.py", cwd=_with_benign(workspace))
    assert second.returncode == 0 and second.stdout == "benign\n", (module, package, second.stderr)
    assert fired(canary) == "", (module, package)
    for name in (f"{module}.py", package):
        assert not (workspace / name).exists() and (workspace / f"{name}.boxed").exists(), name


def test_the_runner_imports_nothing_box_writable_before_it_is_confined(
    kernelspec, workspace, tmp_path
):
    canary = tmp_path / "canary"
    lib = workspace / "lib"
    lib.mkdir()
    (lib / "DateTime.py").write_text(canary_module(canary, "DateTime"))  # tried at startup
    (lib / "project_tools.py").write_text("NAME = 'tools'\n")
    (workspace / "DateTime.py").write_text(canary_module(canary, "DateTime"))  # not set aside
    kernel = start_kernel(workspace, env={"PYTHONPATH": str(lib)})
    try:
        ex = kernel.run("%policy trusted\nimport project_tools\nproject_tools.NAME")
        assert ex.result == "'tools'", ex.of("error")  # PYTHONPATH is back once confined
    finally:
        kernel.close()
    assert fired(canary) == ""


def test_a_broker_that_already_ran_a_file_the_box_can_write_refuses_to_start(tmp_path, workspace):
    # ``copy`` tries ``from org.python.core import ...`` (Jython) when it is imported
    (workspace / "org").mkdir()
    (workspace / "org" / "__init__.py").write_text("")
    (workspace / "p.py").write_text("print('ran')\n")
    proc = cli("run", "--mode", "python", "p.py", cwd=workspace)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "imported org from" in proc.stderr and "the sandbox may write" in proc.stderr


def test_a_broker_killed_mid_run_leaves_its_janitor_to_sweep(tmp_path, workspace):
    canary = tmp_path / "canary"
    (workspace / "payload.py").write_text(
        f"open('runpy.py', 'w').write({canary_module(canary, 'runpy')!r})\n"
        "print('written', flush=True)\n"
        "import sys\nsys.stdin.read()\n"  # until the broker is gone
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env["LMULATOR_CACHE"] = "off"
    broker = subprocess.Popen(
        [sys.executable, "-m", "lmulator", "run", "--policy", "trusted", "--mode", "python",
         "payload.py"], cwd=workspace, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([broker.stdout], [], [], 60)
        assert ready and broker.stdout.readline() == b"written\n"
        broker.kill()  # as Jupyter kills a kernel: the broker's close() never runs
        broker.wait(timeout=10)
    finally:
        broker.kill()
        broker.stdin.close()
        broker.stdout.close()
    wait_for_janitors(workspace)
    assert not (workspace / "runpy.py").exists() and (workspace / "runpy.py.boxed").exists()
    proc = cli("run", "--mode", "python", "benign.py", cwd=_with_benign(workspace))
    assert proc.returncode == 0 and fired(canary) == ""


def test_code_this_python_runs_that_lies_in_the_workspace_is_read_only_in_the_box(tmp_path):
    """A virtual environment in the workspace: its python starts the broker."""
    import sysconfig

    workspace = tmp_path / "project"
    venv = workspace / ".venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    site = next((venv / "lib").glob("python3*/site-packages"))
    deps = sysconfig.get_paths()["purelib"]
    (site / "deps.pth").write_text(f"import site; site.addsitedir({deps!r})\n")
    evil = str(site / "evil.py")
    (workspace / "prog.py").write_text(
        "import os\n"
        f"for what, act in [('write', lambda: open({evil!r}, 'w')),\n"
        "                  ('rename', lambda: os.rename('.venv', 'moved')),\n"
        "                  ('replace', lambda: open('.venv/pyvenv.cfg', 'a'))]:\n"
        "    try:\n        act()\n        print(what, 'done')\n"
        "    except OSError as exc:\n        print(what, exc.strerror)\n"
        "n = open('results.txt', 'w').write('written')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "lmulator", "run", "--policy", "trusted", "--mode",
         "python", "--no-listing", "prog.py"],
        cwd=workspace, env={**env, "LMULATOR_CACHE": "off"}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "write Read-only file system", "rename Device or resource busy",
        "replace Read-only file system",
    ]  # fmt: skip
    assert (workspace / "results.txt").read_text() == "written"  # the rest stays writable
    assert not (site / "evil.py").exists()


def test_the_embedded_model_cache_in_the_workspace_is_read_only_in_the_box(tmp_path):
    """Prompt states and model files are loaded by the next embedded server, outside the box."""
    workspace = tmp_path / "project"
    states = workspace / "cache" / "models" / "prompt-cache" / "m" / "ctx4096"
    workspace.mkdir()
    (workspace / "prog.py").write_text(
        "import os\n"
        f"for what, act in [('plant', lambda: os.makedirs({str(states)!r})),\n"
        "                  ('rename', lambda: os.rename('cache', 'moved'))]:\n"
        "    try:\n        act()\n        print(what, 'done')\n"
        "    except OSError as exc:\n        print(what, exc.strerror)\n"
        "n = open('results.txt', 'w').write('written')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env.update(LMULATOR_CACHE="off", LMULATOR_CACHE_DIR=str(workspace / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", "--policy", "trusted", "--mode", "python",
         "--no-listing", "prog.py"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "plant Read-only file system",
        "rename Device or resource busy",
    ]
    assert (workspace / "results.txt").read_text() == "written"  # the rest stays writable
    assert not (workspace / "cache" / "models").exists()
