"""Chain of Code end to end: the LM writes a program for a question, the engine runs it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import usage
from .engine.session import RunResult, Session
from .exemplars import (  # noqa: F401  (the exemplar files' functions, as they were here)
    MAX_EXAMPLES_CHARS,
    Exemplar,
    example_tasks,
    extract_program,
    load_examples,
    load_exemplars,
    parse_examples,
    parse_exemplars,
    similar_examples,
)
from .forms import AnswerForm
from .lm.client import ChatClient, stream_text
from .usage import BudgetSpent

PROGRAM_NAME = "coc_program"
#: The most tokens a program the LM writes may take.
PROGRAM_TOKENS = 700
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


def program_messages(
    question: str, examples: list[tuple[str, str]] | None = None
) -> list[dict[str, str]]:
    """The chat messages that ask for a program answering ``question`` (with ``examples``, those
    exemplars; else two generic ones)."""
    messages = [{"role": "system", "content": SYSTEM}]
    for q, program in examples or EXAMPLES:
        messages.append({"role": "user", "content": f"Question: {q}"})
        messages.append({"role": "assistant", "content": f"```python\n{program}\n```"})
    messages.append({"role": "user", "content": f"Question: {question.strip()}"})
    return messages


def choose_examples(
    question: str, examples: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The exemplars a program for ``question`` is written from: those given, else the shipped
    ones most like the question, else two generic ones."""
    if examples is None:
        examples = similar_examples(question)
    return examples or EXAMPLES


@dataclass
class Reasoning:
    """A question, the program the LM wrote for it, and the run of that program (the last one,
    where the first was sent back with its problem)."""

    question: str
    program: str
    run: RunResult
    #: The form the answer had to take (None: any value).
    form: AnswerForm | None = None
    #: What was wrong with each program sent back, in order (empty: the first one was kept).
    feedback: list[str] = field(default_factory=list)
    #: The first program's answer as it gave it (None if it set none or failed).
    first_answer: Any = None

    @property
    def answer(self) -> Any:
        """The program's ``answer`` (None if it set none or failed), in the form if one was
        given (None if it does not fit)."""
        value = _value(self.run)
        return value if self.form is None else self.form.fit(value, self.question)


def _value(run: RunResult) -> Any:
    """A run's value (None if it has none or failed)."""
    return run.value if run.ok and run.has_value else None


def write_program(
    session: Session,
    question: str,
    examples: list[tuple[str, str]] | None = None,
    client: ChatClient | None = None,
    on_text: Callable[[str], None] | None = None,
) -> str:
    """Ask the LM (``client``, else the session's) for a program that answers the question,
    shown ``examples`` (None: the shipped exemplars most like the question); the reply so far
    goes to ``on_text`` as it is written, where the client streams."""
    messages = program_messages(question, choose_examples(question, examples))
    writer = client or session.emulator.client
    return extract_program(stream_text(writer, messages, PROGRAM_TOKENS, on_text))


def run_program(session: Session, program: str) -> RunResult:
    """Run a program the LM wrote; its value is ``answer`` when the program sets one."""
    source = program + "\nanswer\n" if re.search(r"\banswer\b", program) else program
    return session.run(source, name=LM_PROGRAM_FILE)


def problem_with(
    run: RunResult, question: str, form: AnswerForm | None = None, strict: bool = False
) -> str | None:
    """What was wrong with a program's run, in a sentence for the LM (None: nothing); with
    ``strict``, a genuine error the LM stood in for is a problem too."""
    if run.error is not None:
        where = _line_of(run.error)
        return f"Running it raised {type(run.error).__name__}{where}: {run.error}"[:500]
    value = run.value if run.has_value else None
    masked = "; ".join(f"line {m.line}: {m.error}" for m in run.masked[:3] if not m.invented)
    if value is None:
        problem = "It set no answer (answer was None or never assigned)"
    elif form is not None and form.fit(value, question) is None:
        problem = f"Its answer was {value!r}"[:300]
        problem += f", but the answer must be {form.describe(question)}"
    elif strict and masked:
        return f"Running it raised an error, so its answer is a guess ({masked})"[:500]
    else:
        return None
    return problem + (f" (Python raised on the way: {masked})"[:500] if masked else "")


def spent(run: RunResult) -> bool:
    """Whether a run stopped because its LM budget was spent."""
    return isinstance(run.error, BudgetSpent)


def _line_of(error: BaseException) -> str:
    """' at line N' for an error raised in the LM's program, else ''."""
    tb = error.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == LM_PROGRAM_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" at line {line}" if line else ""


def reason(
    question: str,
    session: Session | None = None,
    examples: list[tuple[str, str]] | None = None,
    *,
    form: AnswerForm | None = None,
    retries: int = 1,
    client: ChatClient | None = None,
    strict: bool = False,
    on_text: Callable[[str], None] | None = None,
) -> Reasoning:
    """Chain of Code: the LM (``client``, else the session's) writes a program for
    ``question`` from ``examples`` (None: the shipped ones most like it); the engine runs it.
    A program that raised, set no answer, or answered outside ``form`` (with ``strict``, also
    one whose genuine error the LM stood in for) is shown to the LM with its problem, and a new
    one is written, up to ``retries`` times. Where the new one gives no answer at all (or none
    in the form) and one before it did, that earlier program and its run are kept. Each
    program's text so far goes to ``on_text`` as it is written, where the client streams (an
    empty text before each program after the first)."""
    session = session or Session()
    writer = client or session.emulator.client
    messages = program_messages(question, choose_examples(question, examples))
    program = extract_program(stream_text(writer, messages, PROGRAM_TOKENS, on_text))
    session.namespace[PROGRAM_NAME] = program
    run = run_program(session, program)
    result = Reasoning(question, program, run, form, first_answer=_value(run))
    kept = (result.program, result.run) if result.answer is not None else None
    for _ in range(retries):
        problem = problem_with(result.run, question, form, strict)
        if problem is None or spent(result.run) or usage.budget_left() is False:
            break  # nothing to fix, or no LM budget left to write a program again
        note = f"{problem}. Write the whole program again, fixed, in one ```python block."
        result.feedback.append(problem)
        messages += [
            {"role": "assistant", "content": f"```python\n{result.program}```"},
            {"role": "user", "content": note},
        ]
        if on_text is not None:
            on_text("")  # a new program begins
        result.program = extract_program(stream_text(writer, messages, PROGRAM_TOKENS, on_text))
        session.namespace.pop("answer", None)  # no answer left over from the program before
        session.namespace[PROGRAM_NAME] = result.program
        result.run = run_program(session, result.program)
        if result.answer is not None:
            kept = (result.program, result.run)
    if result.answer is None and kept is not None:
        result.program, result.run = kept  # the new program answered worse than the one before
        session.namespace[PROGRAM_NAME] = result.program
        session.namespace["answer"] = result.run.value
    return result
