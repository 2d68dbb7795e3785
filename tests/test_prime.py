"""Priming: each shipped task's exemplar prefix evaluated once and kept on disk, so that a fresh
embedded server's first question of a task reads it instead of evaluating it."""

import os
import subprocess
import sys
import textwrap

import pytest

from lmulator.exemplars import example_tasks
from lmulator.prime import PROBES, prime_tasks, task_messages


class Recorder:
    """A chat client that records the prompts it is asked and answers one token."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[dict[str, str]], int]] = []

    def complete_text(self, messages, max_tokens=700):
        self.asked.append((messages, max_tokens))
        return "`"


def test_each_task_is_asked_two_probes_that_share_all_but_the_question():
    client = Recorder()
    counters = iter([{"evaluated_tokens": 5, "disk_saves": 1}, {"evaluated_tokens": 905}] * 2)
    done = prime_tasks(client, ["navigate", "word_sorting"], lambda: next(counters))
    assert [p.task for p in done] == ["navigate", "word_sorting"]
    assert done[0].evaluated == 900 and done[0].written == -1
    assert len(client.asked) == 4 and all(limit == 1 for _, limit in client.asked)
    first, second = client.asked[0][0], client.asked[1][0]
    assert first[:-1] == second[:-1]  # the system prompt and every exemplar
    assert first[-1]["content"] != second[-1]["content"]
    assert len(first) > 4 and first[-1]["content"].endswith(PROBES[0])


def test_the_probe_prompt_is_a_real_questions_prompt_but_for_the_question():
    from lmulator.reason import program_messages

    for task in example_tasks():
        probe = task_messages(task, "Q")
        assert probe[-1]["content"] == "Question: Q"
        assert program_messages("Q", None)[0] == probe[0]


def test_unknown_tasks_are_named_and_nothing_is_asked():
    client = Recorder()
    with pytest.raises(ValueError, match="no_such_task"):
        prime_tasks(client, ["navigate", "no_such_task"])
    assert client.asked == []


def test_the_command_names_an_unknown_task_in_one_line_and_exits_two(tmp_path):
    env = {**os.environ, "LMULATOR_PROMPT_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "lmulator", "prime", "--tasks", "navigate,nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "nope" in out.stderr
    assert not any(tmp_path.iterdir())  # refused before any model was started


@pytest.mark.llm
def test_a_fresh_server_reads_a_primed_task_prefix(tmp_path):
    env = {**os.environ, "LMULATOR_PROMPT_CACHE_DIR": str(tmp_path)}
    env.pop("OPENAI_BASE_URL", None)
    primed = subprocess.run(
        [sys.executable, "-m", "lmulator", "prime", "--tasks", "navigate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert primed.returncode == 0, primed.stderr
    assert "primed navigate:" in primed.stdout
    assert list(tmp_path.rglob("*.npz"))
    ask = textwrap.dedent(
        """
        from lmulator.exemplars import load_exemplars
        from lmulator.lm.local.model import local_client, server_stats
        from lmulator.reason import program_messages
        shown = [(e.question, e.program) for e in load_exemplars('navigate')]
        question = ('If you follow these instructions, do you return to the starting point? '
                    'Take 2 steps. Turn around. Take 2 steps.')
        local_client().complete_text(program_messages(question, shown), max_tokens=1)
        s = server_stats()
        print(s['disk_loads'], s['evaluated_tokens'], s['prompt_tokens'])
        """
    )
    fresh = subprocess.run(
        [sys.executable, "-c", ask], env=env, capture_output=True, text=True, timeout=300
    )
    assert fresh.returncode == 0, fresh.stderr
    loads, evaluated, prompt = map(int, fresh.stdout.split())
    assert loads >= 1
    assert evaluated < prompt // 5, (evaluated, prompt)
