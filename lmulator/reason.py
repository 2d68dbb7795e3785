"""Chain of Code end to end: the LM writes a program for a question, the engine runs it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import EmulationError
from .executor import RunResult, Session

PROGRAM_NAME = "coc_program"

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


def program_messages(question: str) -> list[dict[str, str]]:
    """The chat messages that ask for a program answering ``question``."""
    messages = [{"role": "system", "content": SYSTEM}]
    for q, program in EXAMPLES:
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


def write_program(session: Session, question: str) -> str:
    """Ask the session's LM for a program that answers the question."""
    client = session.emulator.client
    if not hasattr(client, "complete_text"):
        raise EmulationError("this LM client cannot write programs")
    return extract_program(client.complete_text(program_messages(question)))  # type: ignore[attr-defined]


def reason(question: str, session: Session | None = None) -> Reasoning:
    """Chain of Code: the LM writes a program for ``question``; the engine runs it."""
    session = session or Session()
    program = write_program(session, question)
    session.namespace[PROGRAM_NAME] = program
    run = session.run(
        program + "\nanswer\n" if "answer" in program else program, name="<coc-program>"
    )
    return Reasoning(question, program, run)
