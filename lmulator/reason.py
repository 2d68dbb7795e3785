"""Chain of Code end to end: the LM writes a program for a question, the engine runs it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .engine.session import RunResult, Session

PROGRAM_NAME = "coc_program"
#: The file name programs the LM wrote are compiled under (the kernel looks for it on the stack).
LM_PROGRAM_FILE = "<coc-program>"

SYSTEM = (
    "You write short Python programs that answer questions. Use plain Python. When a step "
    "needs judgement or world knowledge, call a helper function that you do not define "
    "(for example is_fruit(x) or get_country(city)); it will be answered for you. Store the "
    "final answer in a variable named answer. Reply with one ```python code block only."
)

# Few-shot examples in the paper's style.
EXAMPLES: list[tuple[str, str]] = [
    (
        "I have a chair, two potatoes, a cauliflower, a lettuce head, two tables, and a cabbage. "
        "How many vegetables do I have?",
        "objects = {'chair': 1, 'potato': 2, 'cauliflower': 1, 'lettuce head': 1, 'table': 2, "
        "'cabbage': 1}\nanswer = 0\nfor name, count in objects.items():\n"
        "    if is_vegetable(name):\n        answer += count",
    ),
    (
        "Which is sarcastic? Options: (A) Yeah, I love waiting in line for hours "
        "(B) I love waiting in line when the line moves fast",
        "options = {'A': 'Yeah, I love waiting in line for hours', "
        "'B': 'I love waiting in line when the line moves fast'}\nanswer = None\n"
        "for letter, text in options.items():\n    if is_sarcastic(text):\n"
        "        answer = '(' + letter + ')'",
    ),
]

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)

#: Exemplar files may hold at most this much text (they go into every program request).
MAX_EXAMPLES_CHARS = 40_000


def example_tasks() -> list[str]:
    """The tasks that ship per-task exemplars (BIG-Bench Hard's 27)."""
    folder = resources.files("lmulator") / "coc_examples"
    return sorted(p.name[: -len(".txt")] for p in folder.iterdir() if p.name.endswith(".txt"))


def parse_examples(text: str, where: str = "examples") -> list[tuple[str, str]]:
    """Question -> program pairs from an exemplar file (``### Question`` / ``### Program``)."""
    if len(text) > MAX_EXAMPLES_CHARS:
        raise ValueError(f"{where}: more than {MAX_EXAMPLES_CHARS} characters")
    pairs = []
    for block in re.split(r"^### Question[ \t]*\n", text, flags=re.MULTILINE)[1:]:
        question, sep, program = block.partition("\n### Program")
        program = program.partition("\n")[2] if sep else ""
        program = extract_program(program) if "```" in program else program.strip("\n") + "\n"
        if not question.strip() or not program.strip():
            raise ValueError(f"{where}: a block needs a question and a program")
        pairs.append((question.strip(), program.rstrip("\n")))
    if not pairs:
        raise ValueError(f"{where}: no '### Question' / '### Program' blocks")
    return pairs


def load_examples(name_or_path: str) -> list[tuple[str, str]]:
    """The exemplars of a shipped task (``navigate``) or of an exemplar file (a path)."""
    if name_or_path in example_tasks():
        text = (resources.files("lmulator") / "coc_examples" / f"{name_or_path}.txt").read_text(
            encoding="utf-8"
        )
        return parse_examples(text, name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{name_or_path!r} is neither a task with exemplars ({', '.join(example_tasks())}) "
            "nor an exemplar file"
        )
    return parse_examples(path.read_text(encoding="utf-8", errors="replace"), str(path))


def program_messages(
    question: str, examples: list[tuple[str, str]] | None = None
) -> list[dict[str, str]]:
    """The chat messages that ask for a program answering ``question`` (with ``examples``, the
    task's own exemplars; else two generic ones)."""
    messages = [{"role": "system", "content": SYSTEM}]
    for q, program in examples or EXAMPLES:
        messages.append({"role": "user", "content": f"Question: {q}"})
        messages.append({"role": "assistant", "content": f"```python\n{program}\n```"})
    messages.append({"role": "user", "content": f"Question: {question.strip()}"})
    return messages


def extract_program(text: str) -> str:
    """The code in a reply: its first fenced block, else the whole text."""
    match = _CODE_BLOCK.search(text)
    program = match.group(1) if match else text
    return program.strip("\n") + "\n"


@dataclass
class Reasoning:
    """A question, the program the LM wrote for it, and the run of that program."""

    question: str
    program: str
    run: RunResult

    @property
    def answer(self) -> Any:
        """The program's ``answer`` (None if it set none or failed)."""
        return self.run.value if self.run.has_value else None


def write_program(
    session: Session, question: str, examples: list[tuple[str, str]] | None = None
) -> str:
    """Ask the session's LM for a program that answers the question."""
    client = session.emulator.client
    return extract_program(client.complete_text(program_messages(question, examples)))


def run_program(session: Session, program: str) -> RunResult:
    """Run a program the LM wrote; its value is ``answer`` when the program sets one."""
    source = program + "\nanswer\n" if re.search(r"\banswer\b", program) else program
    return session.run(source, name=LM_PROGRAM_FILE)


def reason(
    question: str,
    session: Session | None = None,
    examples: list[tuple[str, str]] | None = None,
) -> Reasoning:
    """Chain of Code: the LM writes a program for ``question``; the engine runs it."""
    session = session or Session()
    program = write_program(session, question, examples)
    session.namespace[PROGRAM_NAME] = program
    return Reasoning(question, program, run_program(session, program))
