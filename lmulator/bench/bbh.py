"""BIG-Bench Hard with Chain of Code, chain of thought, or a direct answer, on any endpoint.

Chain of Code runs as the paper does: per task, three question -> program -> answer exemplars
(four for date understanding; ``lmulator/coc_examples/<task>.txt``: dev-split examples, never
scored, and a few written for the purpose), the LM writes a program for the question, the engine runs it and emulates the
helpers nobody defined.
The exemplars carry their answers, so every method sees them whatever data is scored. Direct
answers see the same questions with their answers; chain of thought is told the form of
those answers (worked examples would need rationales the data does not have, and bare answers
teach a small model to skip the thinking). Every method's answer is written in the task's form
(an option's text as its letter); a program that raised (even where the LM stood in), set no
answer or answered outside the form is sent back once with its problem; ``samples`` programs (at
a temperature) vote. Examples run one at a time on the embedded model, or ``--jobs N`` at once
(each in its own process) against an endpoint that can take it.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..engine.limits import wall_clock_limit
from ..engine.session import Session
from ..exemplars import Exemplar, example_tasks, load_exemplars
from ..forms import AnswerForm, majority
from ..lm.client import ChatClient
from ..lm.factory import make_client
from ..reason import reason
from .runner import TimeLimit, quiet_io, run_jobs

METHODS = ("coc", "cot", "direct")

COT_PROMPT = (
    "Answer the question. Think step by step, then end with a line of the form "
    "'So the answer is X.'"
)
DIRECT_PROMPT = "Answer the question with the answer only, in the same form as the examples."
DIRECT_TOKENS = 64  # an answer, not an essay
COT_TOKENS = 700
YES_NO = {"yes", "no"}
#: The temperature of the programs that vote when there are several samples.
SAMPLE_TEMPERATURE = 0.7


def normalize(answer: Any, yes_no: bool = False) -> str:
    """The usual normalisation before exact match: case, spaces, quotes, a final period, (A) vs
    A; with ``yes_no`` (the task's targets are Yes/No), a boolean answer reads as Yes/No."""
    text = str(answer).strip()
    text = re.sub(r"\s+", " ", text).strip().strip("'\"").rstrip(".").strip().lower()
    if yes_no and text in ("true", "false"):
        return "yes" if text == "true" else "no"
    match = re.fullmatch(r"\(?([a-z])\)?", text)
    if match:
        return f"({match.group(1)})"
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else str(number)


def extract_final(text: str) -> str:
    """The answer a chain-of-thought reply ends with."""
    said = r"answer is[ \t]*:?[ \t]*(.*?)[ \t]*\.?[ \t]*$"  # on one line
    found = re.findall(said, text.strip(), re.IGNORECASE | re.MULTILINE)
    found = [f for f in found if f]  # "the answer is" ending a line says it on the next one
    if found:
        return found[-1]  # the last one said: a reply that corrects itself ends with it
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


@dataclass
class Example:
    """One scored example."""

    task: str
    method: str
    input: str
    target: str
    prediction: str
    correct: bool
    calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    #: The first answer as the method gave it (for coc, the first program's, before it was
    #: sent back and before the task's form was applied).
    first: str = ""
    #: Programs sent back with their problem (coc).
    retried: int = 0
    #: Prompt tokens the embedded model evaluated, and reused from a context or kept state.
    evaluated: int = 0
    reused: int = 0


@dataclass(frozen=True)
class Job:
    """One example to answer with one method."""

    task: str
    method: str
    input: str
    target: str
    base_url: str | None
    model: str | None
    seconds: float
    yes_no: bool
    examples: tuple[tuple[str, str], ...] = ()
    answers: tuple[str, ...] = ()
    form: AnswerForm = AnswerForm()
    retries: int = 1
    samples: int = 1


def _ask_text(session: Session, system: str, job: Job, max_tokens: int) -> str:
    """Direct: the task's exemplar questions with their answers, then the question. Chain of
    thought: no worked examples (answers alone would teach it to skip the thinking), but the form
    the task's answers take."""
    messages = []
    if job.method == "direct":
        for (question, _), target in zip(job.examples, job.answers, strict=True):
            if not target:
                continue  # an exemplar file without this one's answer
            messages.append({"role": "user", "content": f"{system}\n\nQuestion: {question}"})
            messages.append({"role": "assistant", "content": target})
    elif any(job.answers):
        forms = ", ".join(dict.fromkeys(a for a in job.answers if a))
        system = f"{system} This task's answers look like: {forms}."
    messages.append({"role": "user", "content": f"{system}\n\nQuestion: {job.input.strip()}"})
    return session.emulator.client.complete_text(messages, max_tokens)


@dataclass
class Answer:
    """A method's answer to one question (in the task's form where it fits), and its first
    answer as given."""

    prediction: str
    first: str = ""
    retried: int = 0


def _fitted(job: Job, value: Any) -> str:
    """The answer in the task's form (an option's text as its letter), else as given."""
    if value is None:
        return ""
    fitted = job.form.fit(value, job.input)
    return fitted if fitted is not None else str(value)


def answer(session: Session, job: Job, writer: ChatClient | None = None) -> Answer:
    """One method's answer to one question (``writer`` writes the sampled programs)."""
    if job.method == "direct":
        raw = _ask_text(session, DIRECT_PROMPT, job, DIRECT_TOKENS)
        return Answer(_fitted(job, raw), raw)
    if job.method == "cot":
        raw = extract_final(_ask_text(session, COT_PROMPT, job, COT_TOKENS))
        return Answer(_fitted(job, raw), raw)
    votes: list[str | None] = []
    first, retried = "", 0
    for sample in range(job.samples):
        own = session if sample == 0 else Session(session.config, emulator=session.emulator)
        try:
            with quiet_io(), wall_clock_limit(job.seconds, TimeLimit):
                result = reason(
                    job.input,
                    own,
                    list(job.examples) or None,
                    form=job.form,
                    retries=job.retries,
                    client=writer,
                    strict=True,
                )
        except TimeLimit:
            votes.append(None)
            continue
        if sample == 0:
            first = "" if result.first_answer is None else str(result.first_answer)
        retried += len(result.feedback)
        votes.append(result.answer)
    return Answer(majority(votes) or "", first, retried)


_sessions: dict[tuple[str | None, str | None], Session] = {}
_writers: dict[tuple[str | None, str | None], ChatClient] = {}


def _usage(*clients: ChatClient | None) -> tuple[int, int]:
    """Calls and tokens these clients have spent so far."""
    calls = tokens = 0
    for client in dict.fromkeys(c for c in clients if c is not None):
        usage = getattr(client, "usage", None)
        if usage is not None:
            calls += usage.calls
            tokens += usage.prompt_tokens + usage.completion_tokens
    return calls, tokens


def run_job(job: Job) -> Example:
    """Answer one job in a fresh session (the clients are shared within a process)."""
    key = (job.base_url, job.model)
    # An LM request may take as long as the example may (a long program on a busy machine).
    config = Config(
        base_url=job.base_url, model=job.model or "default", cache="off", timeout=job.seconds
    )
    shared = _sessions.get(key)
    session = Session(config, emulator=shared.emulator if shared else None)
    _sessions.setdefault(key, session)
    writer = None
    if job.method == "coc" and job.samples > 1:
        if key not in _writers:
            _writers[key] = make_client(replace(config, temperature=SAMPLE_TEMPERATURE))
        writer = _writers[key]
    clients = (session.emulator.client, writer)
    before = _usage(*clients)
    read_before = _prompt_tokens(job)
    start = time.perf_counter()
    try:
        got = answer(session, job, writer)
    except Exception as exc:  # one failed example must not end the benchmark
        got = Answer(f"<error: {type(exc).__name__}: {exc}>"[:300])
    after = _usage(*clients)
    read = [a - b for a, b in zip(_prompt_tokens(job), read_before, strict=True)]
    ok = normalize(got.prediction, job.yes_no) == normalize(job.target, job.yes_no)
    return Example(
        job.task,
        job.method,
        job.input,
        job.target,
        got.prediction,
        ok,
        after[0] - before[0],
        after[1] - before[1],
        time.perf_counter() - start,
        got.first,
        got.retried,
        *read,
    )


def _prompt_tokens(job: Job) -> tuple[int, int]:
    """Prompt tokens the embedded model has evaluated and reused so far (0, 0 elsewhere)."""
    if job.base_url is not None:
        return 0, 0
    from ..lm.local.model import server_stats

    stats = server_stats() or {}
    return stats.get("evaluated_tokens", 0), stats.get("reused_tokens", 0)


def state_files_line() -> str:
    """What the embedded server read from and wrote to its prompt state files this run."""
    from ..lm.local.model import prompt_cache_dir, server_stats

    stats = server_stats() or {}
    return (
        f"prompt states: {stats.get('disk_loads', 0)} read from disk, "
        f"{stats.get('disk_saves', 0)} written ({prompt_cache_dir()}; an empty folder in "
        "LMULATOR_PROMPT_CACHE_DIR starts cold)"
    )


def speed(examples: list[Example]) -> str:
    """The median seconds an example, and the prompt tokens evaluated and reused if known."""
    line = f"median {statistics.median(e.seconds for e in examples):.1f} s an example"
    evaluated, reused = sum(e.evaluated for e in examples), sum(e.reused for e in examples)
    if evaluated + reused:
        share = reused / (evaluated + reused) * 100
        line += f"; prompt tokens evaluated {evaluated}, reused {reused} ({share:.0f}%)"
    return line


def task_exemplars(task: str, folder: str | None = None) -> list[Exemplar]:
    """A task's exemplars: ``folder/<task>.txt`` where a folder is given and has one, else the
    shipped ones (none for a task that ships none)."""
    if folder is not None and (Path(folder) / f"{task}.txt").is_file():
        return load_exemplars(str(Path(folder) / f"{task}.txt"))
    return load_exemplars(task) if task in example_tasks() else []


def make_jobs(
    data: str,
    tasks: list[str],
    methods: list[str],
    offset: int,
    limit: int | None,
    base_url: str | None,
    model: str | None,
    seconds: float,
    retries: int = 1,
    samples: int = 1,
    exemplars: str | None = None,
) -> list[Job]:
    """The jobs for these tasks and methods (exemplars from the ``exemplars`` folder where it
    has the task's, else the shipped ones); exemplar questions are never scored."""
    jobs = []
    for task in tasks:
        path = Path(data) / f"{task}.json"
        try:
            items = json.loads(path.read_text(encoding="utf-8"))["examples"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not a BBH task file ({exc})") from None
        shown = task_exemplars(task, exemplars)
        examples = tuple((e.question, e.program) for e in shown)
        answers = tuple(e.answer for e in shown)
        exemplar_questions = {q for q, _ in examples}
        # The answers' form: the exemplars', else (a task with none) the task file's targets.
        form = AnswerForm.of(answers) if any(answers) else AnswerForm.of(i["target"] for i in items)
        chosen = [i for i in items if i["input"].strip() not in exemplar_questions]
        chosen = chosen[offset : offset + limit if limit is not None else None]
        yes_no = {str(i["target"]).lower() for i in items} <= YES_NO
        for item in chosen:
            for method in methods:
                jobs.append(
                    Job(
                        task,
                        method,
                        item["input"],
                        str(item["target"]),
                        base_url,
                        model,
                        seconds,
                        yes_no,
                        examples,
                        answers,
                        form,
                        retries,
                        samples,
                    )
                )
    # Each task's examples together, as a user asks questions of one kind: the embedded server
    # keeps the evaluated prompt states of a few prefixes, so a task's exemplars are read once
    # for all its examples, not once an example (27 tasks of prefixes in turn evict each other).
    # A run that was stopped goes on from its journal.
    return jobs


def first_programs(examples: list[Example], jobs: dict[str, Job]) -> str:
    """How the first programs' answers alone would have scored, as given and in the task's form
    (``jobs``: one job of each task), and how many programs were sent back."""

    def right(e: Example, fit: bool) -> bool:
        job = jobs[e.task]
        given = job.form.fit(e.first, e.input) if fit else None
        answer = e.first if given is None else given
        return normalize(answer, job.yes_no) == normalize(e.target, job.yes_no)

    n = len(examples)
    as_given = sum(right(e, False) for e in examples)
    in_form = sum(right(e, True) for e in examples)
    back = [e for e in examples if e.retried]
    return (
        f"coc first programs: {as_given * 100 / n:.1f}% as given, {in_form * 100 / n:.1f}% "
        f"in the task's form; {len(back)} examples sent a program back, "
        f"{sum(e.correct for e in back)} of them right in the end"
    )


def _key(task: str, method: str, question: str) -> tuple[str, str, str]:
    return (task, method, question.strip())


def load_journal(path: str) -> dict[tuple[str, str, str], Example]:
    """Examples already scored in a journal file (JSON lines); none if it does not exist."""
    done: dict[tuple[str, str, str], Example] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return done
    names = {f.name for f in fields(Example)}
    # Journals written before a field was added lack it: it takes its default.
    needed = {f.name for f in fields(Example) if f.default is MISSING}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not needed <= set(item) <= names:
                raise ValueError("not the fields of one scored example")
            example = Example(**item)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: not a scored example ({exc})") from None
        done[_key(example.task, example.method, example.input)] = example
    return done


def run(
    data: str,
    tasks: list[str],
    limit: int | None = None,
    method: str = "coc",
    base_url: str | None = None,
    model: str | None = None,
    json_out: str | None = None,
    seconds: float = 300.0,
    out: Callable[[str], None] = print,
    jobs: int = 1,
    offset: int = 0,
    journal: str | None = None,
    retries: int = 1,
    samples: int = 1,
    exemplars: str | None = None,
) -> dict[str, float]:
    """Score methods on BBH task files (``DIR/<task>.json``); print per-task and overall
    accuracy, LM calls, tokens and wall time per method. Returns accuracy by method.

    With ``journal``, each scored example is appended to that file as it finishes, and examples
    already there are not asked again: a long run that was stopped goes on where it stopped.
    ``retries``: times a Chain-of-Code program with a problem is sent back (0: never);
    ``samples``: programs written for each question (at a temperature when more than one), the
    majority answer kept; ``exemplars``: a folder of ``<task>.txt`` files used instead of the
    shipped ones."""
    methods = list(METHODS) if method == "all" else [method]
    if any(m not in METHODS for m in methods):
        raise ValueError(f"unknown method {method!r} (choose from {', '.join(METHODS)}, all)")
    if jobs < 1 or samples < 1 or retries < 0:
        raise ValueError("--jobs and --samples must be at least 1, --retries at least 0")
    if base_url is None and jobs > 1:
        out("the embedded model answers one request at a time: --jobs 1")
        jobs = 1
    work = make_jobs(
        data, tasks, methods, offset, limit, base_url, model, seconds, retries, samples, exemplars
    )
    done = load_journal(journal) if journal else {}
    results = [done[k] for k in (_key(j.task, j.method, j.input) for j in work) if k in done]
    todo = [j for j in work if _key(j.task, j.method, j.input) not in done]
    if done:
        out(f"journal {journal}: {len(results)} of {len(work)} examples already scored")
    start = time.perf_counter()
    with open(journal, "a", encoding="utf-8") if journal else nullcontext() as log:

        def keep(example: Example) -> None:
            results.append(example)
            if log is not None:
                log.write(json.dumps(asdict(example)) + "\n")
                log.flush()

        for example in run_jobs(todo, run_job, jobs):
            keep(example)
    wall = time.perf_counter() - start
    for task in tasks:
        cells = []
        for m in methods:
            mine = [e for e in results if e.task == task and e.method == m]
            right = sum(e.correct for e in mine)
            cells.append(f"{m} {right}/{len(mine)}")
        out(f"{task}: " + ", ".join(cells))
    forms = {j.task: j for j in work}
    accuracy = {}
    for m in methods:
        mine = [e for e in results if e.method == m]
        n = len(mine)
        accuracy[m] = sum(e.correct for e in mine) / n if n else 0.0
        out(
            f"{m}: {accuracy[m] * 100:.1f}% ({sum(e.correct for e in mine)}/{n}); "
            f"LM calls {sum(e.calls for e in mine)}; tokens {sum(e.tokens for e in mine)}; "
            f"time {sum(e.seconds for e in mine):.0f} s" + (f"; {speed(mine)}" if n else "")
        )
        if m == "coc" and n:
            out(first_programs(mine, forms))
    if json_out:
        Path(json_out).write_text(json.dumps([asdict(e) for e in results], indent=1))
    out(f"wall time: {wall:.1f} s (jobs: {jobs})")
    if work and work[0].base_url is None:
        out(state_files_line())
    if len(methods) == 1:
        out(f"overall accuracy: {accuracy[methods[0]] * 100:.1f}% ({len(results)} examples)")
    return accuracy
