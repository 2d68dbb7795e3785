"""The shipped notebooks, as saved: no leftover progress outputs (blank or not)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_progress_output_is_saved(path):
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            if output["output_type"] not in ("display_data", "update_display_data"):
                continue
            text = "".join(output.get("data", {}).get("text/plain", "x"))
            assert text.strip(), f"{path.name}: an empty display output was saved"
            assert not text.startswith("⋯"), f"{path.name}: a progress line was saved"
