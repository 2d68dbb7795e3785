"""The built wheel: it carries the kernelspec, the exemplars and py.typed, and a fresh
environment with only the wheel installed lists and starts the coc kernel."""

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The build and the install must not see this checkout through PYTHONPATH (its egg-info would
# pass for an installed cockernel).
CLEAN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env=CLEAN_ENV,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = out.glob("cockernel-*.whl")
    return path


def test_the_wheel_carries_the_kernelspec_and_the_package_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    spec = [n for n in names if n.endswith("share/jupyter/kernels/coc/kernel.json")]
    assert spec, "no kernelspec in the wheel"
    kernel = json.loads(zipfile.ZipFile(wheel).read(spec[0]))
    assert kernel["argv"][:4] == ["python", "-I", "-m", "cockernel"]
    assert any(n.endswith("share/jupyter/kernels/coc/logo-64x64.png") for n in names)
    assert sum(n.startswith("lmulator/coc_examples/") for n in names) == 27
    assert "lmulator/py.typed" in names


def test_a_fresh_environment_with_the_wheel_lists_and_starts_coc(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        capture_output=True, text=True, timeout=300, env=CLEAN_ENV,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    # The dependencies come from this environment's site-packages (a path, not its .pth files,
    # so the editable checkout is not seen): the kernel runs from the wheel's files.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = textwrap.dedent(
        f"""
        import cockernel, jupyter_client
        from jupyter_client.kernelspec import KernelSpecManager
        assert cockernel.__file__.startswith({str(venv)!r}), cockernel.__file__
        spec = KernelSpecManager().get_kernel_spec("coc")
        assert spec.resource_dir.startswith({str(venv)!r}), spec.resource_dir
        km, kc = jupyter_client.manager.start_new_kernel(kernel_name="coc", startup_timeout=60)
        try:
            reply = kc.execute_interactive("6 * 7", timeout=60)
            assert reply["content"]["status"] == "ok", reply
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        print("started", spec.display_name)
        """
    )
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "LMULATOR_CACHE": "off"}
    ran = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, timeout=180, env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "started Chain of Code (Python)" in ran.stdout
