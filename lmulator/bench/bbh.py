"""BIG-Bench Hard with Chain of Code, chain of thought, or a direct answer, on any endpoint."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import Config
from ..executor import Session
from ..limits import wall_clock_limit
from ..reason import reason
from .runner import TimeLimit, quiet_io

METHODS = ("coc", "cot", "direct")

COT_PROMPT = (
    "Answer the question. Think step by step, then end with a line of the form "
    "'So the answer is X.'"
)
DIRECT_PROMPT = "Answer the question with the answer only, nothing else."


def normalize(answer: Any) -> str:
    """The usual normalisation before exact match: case, spaces, quotes, a final period, (A) vs A."""
    text = str(answer).strip()
    text = re.sub(r"\s+", " ", text).strip().strip("'\"").rstrip(".").strip().lower()
    match = re.fullmatch(r"\(?([a-z])\)?", text)
    if match:
        return f"({match.group(1)})"
    if text in ("true", "false"):
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else str(number)


def extract_final(text: str) -> str:
    """The answer a chain-of-thought reply ends with."""
    match = re.search(r"answer is\s*:?\s*(.+?)\s*\.?\s*$", text.strip(), re.IGNORECASE | re.DOTALL)
    return match.group(1) if match else text.strip().splitlines()[-1] if text.strip() else ""


@dataclass
class Example:
    """One scored example."""

    task: str
    input: str
    target: str
    prediction: str
    correct: bool


def _ask_text(session: Session, system: str, question: str) -> str:
    client = session.emulator.client
    return client.complete_text(  # type: ignore[attr-defined]
        [{"role": "user", "content": f"{system}\n\nQuestion: {question.strip()}"}]
    )


def answer(session: Session, method: str, question: str, seconds: float) -> str:
    """One method's answer to one question."""
    if method == "direct":
        return _ask_text(session, DIRECT_PROMPT, question)
    if method == "cot":
        return extract_final(_ask_text(session, COT_PROMPT, question))
    try:
        with quiet_io(), wall_clock_limit(seconds, TimeLimit):
            result = reason(question, session)
    except TimeLimit:
        return ""
    return "" if result.answer is None else str(result.answer)


def run(
    data: str,
    tasks: list[str],
    limit: int | None = None,
    method: str = "coc",
    base_url: str | None = None,
    model: str | None = None,
    json_out: str | None = None,
    seconds: float = 60.0,
    out: Callable[[str], None] = print,
) -> float:
    """Score a method on BBH task files (``DIR/<task>.json``); print per-task and overall accuracy."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    examples: list[Example] = []
    total_calls = total_tokens = 0
    start = time.perf_counter()
    for task in tasks:
        path = Path(data) / f"{task}.json"
        items = json.loads(path.read_text(encoding="utf-8"))["examples"][:limit]
        config = Config(base_url=base_url, model=model or "default", cache="off")
        session = Session(config)
        right = 0
        for item in items:
            session = Session(config, emulator=session.emulator)  # fresh state, shared client
            try:
                prediction = answer(session, method, item["input"], seconds)
            except Exception as exc:  # one failed example must not end the benchmark
                prediction = f"<error: {type(exc).__name__}>"
            ok = normalize(prediction) == normalize(item["target"])
            right += ok
            examples.append(Example(task, item["input"], item["target"], prediction, ok))
        client = session.emulator.client
        usage = getattr(client, "usage", None)
        calls = usage.calls if usage else session.emulator.requests_sent
        tokens = (usage.prompt_tokens + usage.completion_tokens) if usage else 0
        total_calls += calls
        total_tokens += tokens
        n = len(items)
        out(
            f"{task}: {right}/{n} = {right / n if n else 0:.1%}  (LM calls {calls}, tokens {tokens})"
        )
    if json_out:
        Path(json_out).write_text(json.dumps([asdict(e) for e in examples], indent=1))
    n = len(examples)
    accuracy = sum(e.correct for e in examples) / n if n else 0.0
    out(
        f"method: {method}; LM calls: {total_calls}; tokens: {total_tokens}; wall time: {time.perf_counter() - start:.1f} s"
    )
    out(f"overall accuracy: {accuracy * 100:.1f}% ({n} examples)")
    return accuracy
