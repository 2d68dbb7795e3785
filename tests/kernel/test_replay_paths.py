"""Where %lm finds replay files: beside the notebook, and never silently live."""

import json

import pytest

from .helpers import Kernel


@pytest.fixture
def notebook_kernel(_server_process, tmp_path):
    """A kernel started elsewhere than its notebook, told where the notebook is (as JupyterLab
    does), with a replay file beside the notebook."""
    folder = tmp_path / "project" / "notebooks"
    folder.mkdir(parents=True)
    (folder / "demo.lmreplay.jsonl").write_text(json.dumps({"key": "k", "reply": "{}"}) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    kernel = Kernel(
        env={
            "OPENAI_BASE_URL": _server_process.base_url,
            "LMULATOR_CACHE": "off",
            "JPY_SESSION_NAME": str(folder / "demo.ipynb"),
        },
        cwd=str(elsewhere),
    )
    yield kernel, folder
    kernel.close()


def test_a_relative_replay_file_is_found_beside_the_notebook(notebook_kernel):
    kernel, folder = notebook_kernel
    ex = kernel.run("%lm record=replay replay_file=demo.lmreplay.jsonl")
    assert ex.status == "ok", ex.of("error")
    assert str(folder / "demo.lmreplay.jsonl") in kernel.run("%lm").stdout


def test_a_missing_replay_file_fails_the_cell_and_changes_nothing(notebook_kernel):
    kernel, _ = notebook_kernel
    ex = kernel.run("%lm record=replay replay_file=nowhere.jsonl")
    assert ex.status == "error"
    assert "does not exist" in str(ex.messages)
    assert "record       off" in kernel.run("%lm").stdout  # not half-switched, not live-replay
    bad = kernel.run("%lm colour=blue")
    assert bad.status == "error" and "expected key=value" in str(bad.messages)
