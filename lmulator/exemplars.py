"""Chain-of-Code exemplars: the files (question, program, answer), and for a question that names
no task, the shipped task whose exemplars are most like it (BM25 over their questions)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

#: Exemplar files may hold at most this much text (they go into every program request).
MAX_EXAMPLES_CHARS = 40_000
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


@dataclass(frozen=True)
class Exemplar:
    """A question, a program that answers it, and its answer ('' where the file gives none)."""

    question: str
    program: str
    answer: str = ""


def extract_program(text: str) -> str:
    """The code in a reply: its first fenced block, else the whole text."""
    match = _CODE_BLOCK.search(text)
    program = match.group(1) if match else text
    return program.strip("\n") + "\n"


def program_so_far(text: str) -> str:
    """The program in a reply still being written: what follows its opening code fence (the
    whole text where there is no fence), up to a closing fence."""
    start = text.find("```")
    if start >= 0:
        newline = text.find("\n", start)
        text = text[newline + 1 :] if newline >= 0 else ""
    return text.split("```", 1)[0]


def example_tasks() -> list[str]:
    """The tasks that ship per-task exemplars (BIG-Bench Hard's 27)."""
    folder = resources.files("lmulator") / "coc_examples"
    return sorted(p.name[: -len(".txt")] for p in folder.iterdir() if p.name.endswith(".txt"))


def parse_exemplars(text: str, where: str = "examples") -> list[Exemplar]:
    """The exemplars in a file's text: ``### Question`` / ``### Program`` blocks, each with an
    optional ``### Answer``."""
    if len(text) > MAX_EXAMPLES_CHARS:
        raise ValueError(f"{where}: more than {MAX_EXAMPLES_CHARS} characters")
    found = []
    for block in re.split(r"^### Question[ \t]*\n", text, flags=re.MULTILINE)[1:]:
        question, sep, rest = block.partition("\n### Program")
        rest = rest.partition("\n")[2] if sep else ""
        program, _, answer = rest.partition("\n### Answer")
        program = extract_program(program) if "```" in program else program.strip("\n") + "\n"
        if not question.strip() or not program.strip():
            raise ValueError(f"{where}: a block needs a question and a program")
        answer = answer.partition("\n")[2].strip()
        found.append(Exemplar(question.strip(), program.rstrip("\n"), answer))
    if not found:
        raise ValueError(f"{where}: no '### Question' / '### Program' blocks")
    return found


def load_exemplars(name_or_path: str) -> list[Exemplar]:
    """The exemplars of a shipped task (``navigate``) or of an exemplar file (a path)."""
    if name_or_path in example_tasks():
        folder = resources.files("lmulator") / "coc_examples"
        text = (folder / f"{name_or_path}.txt").read_text(encoding="utf-8")
        return parse_exemplars(text, name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"{name_or_path!r} is neither a task with exemplars ({', '.join(example_tasks())}) "
            "nor an exemplar file"
        )
    return parse_exemplars(path.read_text(encoding="utf-8", errors="replace"), str(path))


def parse_examples(text: str, where: str = "examples") -> list[tuple[str, str]]:
    """Question -> program pairs from an exemplar file's text."""
    return [(e.question, e.program) for e in parse_exemplars(text, where)]


def load_examples(name_or_path: str) -> list[tuple[str, str]]:
    """Question -> program pairs of a shipped task or an exemplar file."""
    return [(e.question, e.program) for e in load_exemplars(name_or_path)]


K1 = 1.5  # how fast a repeated word stops counting
B = 0.75  # how much a long question is discounted
#: Below this best score a question is about none of the exemplars (a word or two in common).
MIN_SCORE = 6.0
_WORD = re.compile(r"[a-z0-9]+")
#: Words too common to say what a question is about.
STOP = frozenset(
    "a an the of is are was were be to in on at by for with and or not it its this these that "
    "those which what who how do does did i you we my your there".split()
)


def words(text: str) -> list[str]:
    """A text's words, lower-case, but for the most common ones; a plural's final s dropped
    (fruits -> fruit)."""
    found = [w for w in _WORD.findall(text.lower()) if w not in STOP]
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in found]


class Index:
    """BM25 over exemplars' questions; each exemplar belongs to a group (its task)."""

    def __init__(self, exemplars: list[Exemplar], groups: list[str] | None = None) -> None:
        self.exemplars = exemplars
        self.groups = groups if groups is not None else ["" for _ in exemplars]
        self.docs = [Counter(words(e.question)) for e in exemplars]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.mean_length = sum(self.lengths) / len(self.lengths) if self.lengths else 1.0
        df = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}

    def scores(self, question: str) -> list[float]:
        """Each exemplar's BM25 score for the question."""
        query = set(words(question))
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            norm = K1 * (1 - B + B * length / self.mean_length)
            out.append(
                sum(self.idf[w] * doc[w] * (K1 + 1) / (doc[w] + norm) for w in query if w in doc)
            )
        return out

    def top(self, question: str, k: int = 3) -> list[Exemplar]:
        """Up to ``k`` exemplars of the group whose exemplar is most like the question (one
        task's, so the programs shown share a style), the closest last; none when even the
        closest scores under ``MIN_SCORE``."""
        scores = self.scores(question)
        best = max(range(len(scores)), key=lambda i: (scores[i], -i), default=None)
        if best is None or scores[best] < MIN_SCORE:
            return []
        mine = [i for i in range(len(scores)) if self.groups[i] == self.groups[best]]
        mine.sort(key=lambda i: (-scores[i], i))
        return [self.exemplars[i] for i in reversed(mine[:k])]


@lru_cache(maxsize=1)
def shipped_index() -> Index:
    """The index over every shipped task's exemplars, grouped by task."""
    pairs = [(task, e) for task in example_tasks() for e in load_exemplars(task)]
    return Index([e for _, e in pairs], [task for task, _ in pairs])


def similar_examples(question: str, k: int = 3) -> list[tuple[str, str]]:
    """Question -> program pairs of the shipped task most like ``question``: up to ``k`` of its
    exemplars, the closest last; none when no exemplar is much like it."""
    return [(e.question, e.program) for e in shipped_index().top(question, k)]
