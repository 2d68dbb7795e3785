"""The README's first command runs examples/countries.py; on the replies recorded from the
default model it prints right answers: Python counts, the LM answers only semantics."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "countries.py"


def test_the_readme_starts_with_this_example():
    first_command = (ROOT / "README.md").read_text(encoding="utf-8").split("```bash\n")[1]
    assert "python -m lmulator run examples/countries.py" in first_command.splitlines()[0]


def test_the_recorded_replies_give_right_answers():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env["LMULATOR_CACHE"] = "off"
    proc = subprocess.run(
        [sys.executable, "-m", "lmulator", "run", str(EXAMPLE), "--replay"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout.split("\n\n── emulated lines")[0].splitlines()
    assert output == [
        "countries: ['France', 'Japan', 'Italy', 'France', 'Egypt', 'Germany', 'France']",
        "distinct countries: 5",
        "words per sentence: [3, 5, 1] total: 9",
        "animals: ['dog']",
    ]
    # The LM was asked only what Python cannot know: countries and animals, never a count.
    replies = EXAMPLE.with_name("countries.lmreplay.jsonl").read_text().splitlines()
    targets = [json.loads(line)["target"] for line in replies]
    assert targets and all(t.startswith(("get_country(", "is_animal(")) for t in targets)
