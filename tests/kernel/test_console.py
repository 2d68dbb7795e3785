"""`jupyter console --kernel coc`, as the README names it: it runs cells and shuts down cleanly."""

import os
import shutil
import subprocess
import sys

import pytest

CONSOLE = shutil.which("jupyter-console", path=os.path.dirname(sys.executable))


@pytest.mark.skipif(CONSOLE is None, reason="jupyter-console is not installed (the console extra)")
def test_jupyter_console_runs_the_coc_kernel(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env["LMULATOR_CACHE"] = "off"
    out = subprocess.run(
        [CONSOLE, "--kernel", "coc", "--simple-prompt"],
        input="x = 20 + 22\nprint(x)\nexit\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Chain of Code (Python)" in out.stdout and "42" in out.stdout
    assert "Traceback" not in out.stderr + out.stdout  # a confined kernel shuts down cleanly
