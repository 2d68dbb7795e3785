"""CRUXEval-O: what does ``f(INPUT)`` return? The emulator against the benchmark's own prompts.

Each item is a function ``f`` (``code``), the argument text of one call (``input``) and the repr
of what it returns (``output``), one JSON object a line. Three methods answer:

- ``emulate``: the engine's own emulation path (:func:`lmulator.engine.predict.predict_call`):
  the call is a value request whose definition is ``f``'s code, with the prompts, reply schema,
  reply parser and trace record the kernel uses; Python never runs ``f``. The trace record's
  confidence is kept, and its calibration reported.
- ``direct`` and ``cot``: the same model given the prompts of the CRUXEval paper's code (MIT
  licence): complete ``assert f(INPUT) == ??`` in ``[ANSWER]`` tags, straight away or after
  executing the program step by step.

An answer is right when its value equals the output's, both read with the project's literal
parser (never ``eval``). ``--journal`` keeps each scored item as a JSON line; a rerun with the
same journal asks only what it does not hold yet.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..config import Config
from ..engine.predict import predict_call
from ..engine.session import Session
from ..engine.trace import short_repr
from ..errors import ReplyError
from ..lm.literals import parse_literal
from .calibration import accuracy_above, auroc
from .runner import quiet_io, run_jobs

METHODS = ("emulate", "direct", "cot")
CONFIDENCE_BAR = 0.8
DIRECT_TOKENS = 256
COT_TOKENS = 1024
PREDICTION_CHARS = 2000
FAILED = "<failed: "  # an answer that raised (not the LM's doing): never journaled

_INSTRUCTION = (
    "You are given a Python function and an assertion containing an input to the function. "
    "Complete the assertion with a literal (no unsimplified expressions, no function calls) "
    "containing the output when executing the provided code on the given input, even if the "
    "function is incorrect or incomplete. Do NOT output any extra information."
)
DIRECT_PROMPT = (
    _INSTRUCTION + " Provide the full assertion with the correct output in [ANSWER] and "
    "[/ANSWER] tags, following the examples.\n\n"
    "[PYTHON]\ndef f(n):\n    return n\nassert f(17) == ??\n[/PYTHON]\n"
    "[ANSWER]\nassert f(17) == 17\n[/ANSWER]\n\n"
    '[PYTHON]\ndef f(s):\n    return s + "a"\nassert f("x9j") == ??\n[/PYTHON]\n'
    '[ANSWER]\nassert f("x9j") == "x9ja"\n[/ANSWER]\n\n'
    "[PYTHON]\n{code}\nassert f({input}) == ??\n[/PYTHON]\n[ANSWER]\n"
)
COT_PROMPT = (
    _INSTRUCTION + " Execute the program step by step before arriving at an answer, and "
    "provide the full assertion with the correct output in [ANSWER] and [/ANSWER] tags, "
    "following the examples.\n\n"
    '[PYTHON]\ndef f(s):\n    s = s + s\n    return "b" + s + "a"\nassert f("hi") == ??\n'
    "[/PYTHON]\n[THOUGHT]\nLet's execute the code step by step:\n\n"
    "1. The function f is defined, which takes a single argument s.\n"
    '2. The function is called with the argument "hi", so within the function, s is '
    'initially "hi".\n'
    '3. Inside the function, s is concatenated with itself, so s becomes "hihi".\n'
    '4. The function then returns a new string that starts with "b", followed by the value '
    'of s (which is now "hihi"), and ends with "a".\n'
    '5. The return value of the function is therefore "bhihia".\n[/THOUGHT]\n'
    '[ANSWER]\nassert f("hi") == "bhihia"\n[/ANSWER]\n\n'
    "[PYTHON]\n{code}\nassert f({input}) == ??\n[/PYTHON]\n[THOUGHT]\n"
)


@dataclass(frozen=True)
class Item:
    """One CRUXEval item."""

    id: str
    code: str
    input: str
    output: str

    @property
    def call(self) -> str:
        """The call whose value is asked for."""
        return f"f({self.input})"


@dataclass
class Scored:
    """One item answered by one method (a journal line)."""

    id: str
    method: str
    prediction: str
    correct: bool
    confidence: float | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Job:
    """One item to answer with one method, at one endpoint."""

    item: Item
    method: str
    base_url: str | None
    model: str | None
    timeout: float


def load_items(path: str, offset: int = 0, limit: int | None = None) -> list[Item]:
    """Items ``offset`` to ``offset + limit`` of a JSON-lines file; ValueError naming the line
    of one that is not an item."""
    items = []
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            code, given, output = data["code"], data["input"], data["output"]
            if not all(isinstance(x, str) for x in (code, given, output)):
                raise TypeError("code, input and output must be text")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: not a CRUXEval item ({exc})") from None
        ident = data.get("id")
        if not isinstance(ident, str) or not ident:
            ident = hashlib.sha256(f"{code}\0{given}".encode()).hexdigest()[:12]
        items.append(Item(ident, code, given, output))
    return items[offset : offset + limit if limit is not None else None]


def extract_assertion(text: str, call: str) -> str:
    """The output an assertion answer states, as the benchmark's own scoring reads it: the
    part in ``[ANSWER]`` tags, after ``==``; empty if it just repeats the call."""
    if "[ANSWER]" in text:
        text = text.split("[ANSWER]", 1)[1]
    text = text.split("[/ANSWER]", 1)[0].strip()
    if "==" in text:
        text = text.split("==", 1)[1]
    text = text.strip().strip("`").strip()
    if text.startswith("python\n"):
        text = text[len("python\n") :].strip()
    return "" if call in text else text


def read_value(text: str) -> tuple[bool, Any]:
    """(True, value) if ``text`` is a Python literal the project's parser reads, else
    (False, None)."""
    try:
        return True, parse_literal(text)
    except (ReplyError, RecursionError, MemoryError):
        return False, None


def same_value(a: Any, b: Any) -> bool:
    """Whether two answers are equal as values (as the benchmark's ``==`` compares them)."""
    try:
        return bool(a == b)
    except Exception:  # a comparison of odd values that cannot decide
        return False


_sessions: dict[tuple[str | None, str | None, float], Session] = {}


def _session(job: Job) -> Session:
    """A fresh session for a job; the client (and the embedded model) is shared in a process."""
    key = (job.base_url, job.model, job.timeout)
    config = Config(
        base_url=job.base_url, model=job.model or "default", cache="off", timeout=job.timeout
    )
    shared = _sessions.get(key)
    session = Session(config, emulator=shared.emulator if shared else None)
    _sessions.setdefault(key, session)
    return session


def answer(session: Session, job: Job) -> tuple[str, bool, float | None]:
    """One method's answer to one item: (the prediction as text, right or not, confidence)."""
    item = job.item
    ok, expected = read_value(item.output)
    if not ok:
        raise ValueError(f"item {item.id}: its output is not a literal the parser reads")
    if job.method == "emulate":
        with quiet_io():
            result = predict_call(session, item.code, item.call)
        record = next((r for r in reversed(result.trace) if r.scored), None)
        confidence = record.confidence if record is not None else None
        if result.error is not None:
            return f"<error: {result.error}>"[:PREDICTION_CHARS], False, confidence
        shown = short_repr(result.value, PREDICTION_CHARS)
        return shown, same_value(result.value, expected), confidence
    template = DIRECT_PROMPT if job.method == "direct" else COT_PROMPT
    prompt = template.replace("{code}", item.code).replace("{input}", item.input)
    tokens = DIRECT_TOKENS if job.method == "direct" else COT_TOKENS
    reply = session.emulator.client.complete_text([{"role": "user", "content": prompt}], tokens)
    text = extract_assertion(reply, item.call)
    parsed, value = read_value(text)
    return text[:PREDICTION_CHARS], parsed and same_value(value, expected), None


def run_job(job: Job) -> Scored:
    """Answer one job; an item that raises is scored wrong (its prediction starts with
    ``FAILED``), never ends the benchmark."""
    session = _session(job)
    usage = getattr(session.emulator.client, "usage", None)

    def spent() -> tuple[int, int, int]:
        if usage is None:
            return (0, 0, 0)
        return (usage.calls, usage.prompt_tokens, usage.completion_tokens)

    before = spent()
    start = time.perf_counter()
    try:
        prediction, correct, confidence = answer(session, job)
    except Exception as exc:
        prediction, correct, confidence = f"{FAILED}{type(exc).__name__}: {exc}>"[:300], False, None
    after = spent()
    if prediction.startswith("<error: ") and usage is not None and after[0] == before[0]:
        # no reply came back (an unreachable endpoint, a timeout): not the model's answer
        prediction = FAILED + prediction[len("<error: ") :]
    return Scored(
        job.item.id,
        job.method,
        prediction,
        correct,
        confidence,
        after[0] - before[0],
        after[1] - before[1],
        after[2] - before[2],
        time.perf_counter() - start,
    )


def load_journal(path: str) -> dict[tuple[str, str], Scored]:
    """Items already scored in a journal (JSON lines); none if the file does not exist."""
    done: dict[tuple[str, str], Scored] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return done
    names = {f.name for f in fields(Scored)}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or set(data) != names:
                raise ValueError("not the fields of one scored item")
            scored = Scored(**data)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: not a scored item ({exc})") from None
        done[(scored.id, scored.method)] = scored
    return done


def summary(method: str, results: list[Scored]) -> list[str]:
    """The lines printed for one method: accuracy and cost, then (for answers that carry a
    confidence) its calibration."""
    n = len(results)
    right = sum(r.correct for r in results)
    share = right / n * 100 if n else 0.0
    seconds = [r.seconds for r in results]
    median = statistics.median(seconds) if seconds else 0.0
    lines = [
        f"{method}: {share:.1f}% ({right}/{n}); LM calls {sum(r.calls for r in results)}; "
        f"tokens {sum(r.prompt_tokens for r in results)} prompt / "
        f"{sum(r.completion_tokens for r in results)} completion; "
        f"time {sum(seconds):.0f} s (median {median:.1f} s an item)"
    ]
    if method != "emulate":
        return lines
    scored = [r for r in results if r.confidence is not None]
    if not scored:
        lines.append("confidence: none (the endpoint gave no log-probabilities)")
        return lines
    scores = [r.confidence or 0.0 for r in scored]
    correct = [r.correct for r in scored]
    area = auroc(scores, correct)
    above, count = accuracy_above(scores, correct, CONFIDENCE_BAR)
    area_text = f"{area:.2f}" if area is not None else "n/a (all right or all wrong)"
    above_text = f"{above * 100:.1f}%" if above is not None else "n/a"
    unscored = f"; {n - len(scored)} without one" if len(scored) < n else ""
    lines.append(
        f"confidence AUROC: {area_text}; accuracy where confidence >= {CONFIDENCE_BAR:g}: "
        f"{above_text} ({count} values){unscored}"
    )
    return lines


def run(
    data: str,
    limit: int | None = None,
    offset: int = 0,
    method: str = "all",
    base_url: str | None = None,
    model: str | None = None,
    journal: str | None = None,
    jobs: int = 1,
    timeout: float = 600.0,
    out: Callable[[str], None] = print,
) -> dict[str, list[Scored]]:
    """Score the methods on the items of ``data``; print one summary per method. Returns the
    scored items by method (those from the journal too)."""
    methods = list(METHODS) if method == "all" else [method]
    if any(m not in METHODS for m in methods):
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)}, all)")
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if base_url is None and jobs > 1:
        out("the embedded model answers one request at a time: --jobs 1")
        jobs = 1
    items = load_items(data, offset, limit)
    _sessions.clear()  # a run's answers are its own (no memo from an earlier run)
    work = [Job(item, m, base_url, model, timeout) for item in items for m in methods]
    done = load_journal(journal) if journal else {}
    results = [done[(j.item.id, j.method)] for j in work if (j.item.id, j.method) in done]
    todo = [j for j in work if (j.item.id, j.method) not in done]
    if results:
        out(f"journal {journal}: {len(results)} of {len(work)} answers already scored")
    start = time.perf_counter()
    with open(journal, "a", encoding="utf-8") if journal else nullcontext() as log:

        def keep(scored: Scored) -> None:
            results.append(scored)
            if log is not None and not scored.prediction.startswith(FAILED):
                log.write(json.dumps(asdict(scored)) + "\n")
                log.flush()

        for scored in run_jobs(todo, run_job, jobs):
            keep(scored)
    by_method = {m: [r for r in results if r.method == m] for m in methods}
    for m in methods:
        for line in summary(m, by_method[m]):
            out(line)
    failed = [r for r in results if r.prediction.startswith(FAILED)]
    if failed:
        out(f"{len(failed)} answers failed to run (scored wrong, not journaled), the first: "
            f"{failed[0].prediction}")  # fmt: skip
    out(f"wall time: {time.perf_counter() - start:.1f} s ({len(todo)} answers asked)")
    return by_method
