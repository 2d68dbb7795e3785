"""Install the ``coc`` kernelspec, the way ``ipykernel install`` does."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import DISPLAY_NAME, KERNEL_NAME

RESOURCES = Path(__file__).parent / "resources"


def kernel_json(display_name: str = DISPLAY_NAME) -> dict:
    """The kernelspec's kernel.json for this Python.

    ``-I``: the broker, which holds the API key, imports nothing from the notebook's folder
    (Jupyter starts kernels there), from ``PYTHONPATH`` or from the user's site directory.
    """
    return {
        "argv": [sys.executable, "-I", "-m", "cockernel", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }


def install(
    user: bool = False,
    prefix: str | None = None,
    name: str = KERNEL_NAME,
    display_name: str = DISPLAY_NAME,
) -> str:
    """Install the kernelspec; return the directory it went to. OSError if this Python cannot
    start the kernel as the kernelspec does (``python -I``, see :func:`kernel_json`)."""
    isolated = subprocess.run(
        [sys.executable, "-I", "-c", "import cockernel"],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        timeout=120,
    )
    if isolated.returncode != 0:
        raise OSError(
            f"{sys.executable} -I cannot import cockernel (is it installed with --user, or found "
            "through PYTHONPATH or the working directory?); the kernel starts with -I so that "
            "nothing in a notebook's folder runs outside the sandbox: install cockernel into "
            "this Python's environment (a virtual environment)"
        )
    try:
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError:
        raise OSError(
            "jupyter_client is not installed: pip install 'cockernel[kernel]' first"
        ) from None
    with tempfile.TemporaryDirectory() as tmp:
        spec_dir = Path(tmp) / name
        spec_dir.mkdir()
        (spec_dir / "kernel.json").write_text(json.dumps(kernel_json(display_name), indent=1))
        for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
            shutil.copy(RESOURCES / logo, spec_dir / logo)
        return KernelSpecManager().install_kernel_spec(
            str(spec_dir), kernel_name=name, user=user, prefix=prefix
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m cockernel install`` / ``install_kernel.py``."""
    parser = argparse.ArgumentParser(prog="python -m cockernel install", description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for the current user")
    where.add_argument("--sys-prefix", action="store_true", help=f"install into {sys.prefix}")
    where.add_argument("--prefix", help="install into this prefix")
    parser.add_argument(
        "--name", default=KERNEL_NAME, help=f"kernelspec name (default {KERNEL_NAME})"
    )
    parser.add_argument("--display-name", default=DISPLAY_NAME, help="name shown in menus")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    try:
        path = install(
            user=args.user, prefix=prefix, name=args.name, display_name=args.display_name
        )
    except OSError as exc:
        print(f"cockernel install: {exc}", file=sys.stderr)
        return 1
    print(f"Installed kernelspec {args.name} in {path}")
    return 0
