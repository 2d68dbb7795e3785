"""JupyterLab in headless Chromium: open a notebook on the coc kernel, run the CoC example,
and see the emulated line highlighted in the rendered page."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LONG_LINE = "result = {'first': 1, 'second': 2}['a key that this dictionary does not have at all']"
LONG_CELL = "%mode python\n" + LONG_LINE

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM)
    or shutil.which("jupyter-lab", path=os.path.dirname(sys.executable)) is None,
    reason="needs Debian's Chromium (./setup.sh --browser installs it) and jupyterlab",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of the running-example notebook."""
    for name in ("coc_running_example.ipynb", "coc_running_example.lmreplay.jsonl"):
        shutil.copy(ROOT / "notebooks" / name, tmp_path / name)
    nb = json.loads((tmp_path / "coc_running_example.ipynb").read_text())
    for cell in nb["cells"]:
        cell["outputs"] = [] if cell["cell_type"] == "code" else cell.get("outputs")
        if cell["cell_type"] == "code":
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
    # A long line with a long note (an error mark needs no LM): the code must keep its width.
    nb["cells"].append(
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": [LONG_CELL],
        }
    )
    (tmp_path / "coc_running_example.ipynb").write_text(json.dumps(nb))
    ARTIFACTS.mkdir(exist_ok=True)
    port, token = _free_port(), "browser-test-token"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    proc = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "jupyter-lab"),
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.news_url=",
            "--ServerApp.open_browser=False",
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=(ARTIFACTS / "jupyterlab.log").open("w"),
        env=env,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start")
            time.sleep(0.2)
    yield base, token
    proc.terminate()
    proc.wait(timeout=20)


def run_all_cells(page, timeout: float = 60.0) -> None:
    """Run > Run All Cells until the first cell is queued or done (a click can be lost while
    JupyterLab is still settling: a toast that appears closes the open menu)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    started = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    while True:
        page.keyboard.press("Escape")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.locator(".lm-Menu-item:not(.lm-mod-disabled)", has_text="Run All Cells").first.click()
        try:
            started.first.wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            assert time.monotonic() < deadline, "Run All Cells never started the notebook"


def test_coc_example_is_marked_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "jupyterlab-coc.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],  # fmt: skip
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/coc_running_example.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
        )
        page.locator(".jp-Notebook .jp-Cell.jp-CodeCell").first.click()
        run_all_cells(page)
        try:
            row = page.wait_for_selector("tr.lm-emulated", timeout=120_000)
        finally:
            page.screenshot(path=str(shot), full_page=False)
        text = row.inner_text()
        error_row = page.wait_for_selector("tr.lm-error", timeout=120_000)
        error_row.scroll_into_view_if_needed()
        page.screenshot(path=str(shot), full_page=False)
        code = error_row.query_selector("code")
        line_height = code.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 16")
        code_box, note_box = (
            code.bounding_box(),
            error_row.query_selector(".lm-note").bounding_box(),
        )
        saved_progress = page.locator(".jp-OutputArea-output:has-text('emulating')").count()
        kernel_name = page.locator(".jp-KernelName").first.inner_text()
        browser.close()
    assert "get_country" in text and "France" in text
    assert code_box["height"] < 1.6 * line_height, "the code column wraps"  # one line
    assert note_box["x"] >= code_box["x"] + code_box["width"] - 1  # the note sits beside it
    assert saved_progress == 0  # progress lines are transient
    assert "Chain of Code" in kernel_name
    assert shot.stat().st_size > 10_000
