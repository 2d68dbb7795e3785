"""``python -m lmulator reason``: a real process, confined as ``run`` is, talking to the
scripted server over HTTP; the program is printed while the LM is still writing it."""

import os
import subprocess
import sys
import time

import pytest

from lmulator.testing import value_rule

QUESTION = "How many fruits: apple, car, pear?"
PROGRAM = "items = ['apple', 'car', 'pear']\nanswer = sum(1 for i in items if is_fruit(i))"


def env_for(lm) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LMULATOR_"))}
    env.update(OPENAI_BASE_URL=lm.base_url, LMULATOR_CACHE="off")
    return env


def rules(delay: float = 0.0) -> list[dict]:
    return [
        {
            "match": [f"Question: {QUESTION}"],
            "content": f"```python\n{PROGRAM}\n```",
            "fault": {"stream_delay": delay},
        },  # fmt: skip
        *(value_rule(f"is_fruit('{w}')", w != "car") for w in ("apple", "car", "pear")),
    ]


def reason(lm, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmulator", "reason", *args],
        env=env_for(lm),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=os.path.dirname(__file__),
    )


@pytest.mark.parametrize("sandbox", [[], ["--sandbox", "off"]])
def test_reason_prints_the_program_its_run_the_answer_and_the_cost(lm, sandbox):
    lm.rules(*rules())
    done = reason(lm, QUESTION, *sandbox)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("── program ")
    assert PROGRAM + "\n── emulated lines " in out
    assert "⇐ is_fruit('car') → False" in out
    assert out.rstrip().endswith("answer: 2    ~ emulated: the LM supplied this value or one "
                                 "it was computed from")  # fmt: skip
    usage = done.stderr.strip().splitlines()[-1]
    assert usage.startswith("LM: 4 calls, ") and " prompt + " in usage


def test_the_program_is_printed_while_the_lm_is_still_writing_it(lm):
    lm.rules(*rules(delay=0.15))  # ~25 tokens: the whole reply takes ~4 s
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmulator", "reason", QUESTION],
        env=env_for(lm),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("── program ")
        first = proc.stdout.readline()
        still_writing = len(lm.log()) == 1  # no helper asked yet: the program is unfinished
        assert first == PROGRAM.splitlines()[0] + "\n"
        assert still_writing and proc.poll() is None
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert "answer: 2" in out


def test_max_calls_stops_the_run_with_one_line_and_no_second_program(lm):
    lm.rules(*rules())
    done = reason(lm, QUESTION, "--max-calls", "2")
    assert done.returncode == 1
    assert "written again" not in done.stdout  # no budget left to write it again
    assert "the LM budget is spent: 2 of 2 calls" in done.stderr
    assert "--max-calls on the command line" in done.stderr
    assert len(lm.log()) == 2
    assert "Traceback" not in done.stderr


def test_max_tokens_is_a_budget_too(lm):
    lm.rules(*rules())
    done = reason(lm, QUESTION, "--max-tokens", "10")
    assert done.returncode == 1 and "tokens" in done.stderr
    assert len(lm.log()) == 1  # the program's request spent them all


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the question is empty"),
        ([QUESTION, "--examples", "no_such_task"], "no shipped task or file"),
        ([QUESTION, "--max-calls", "-1"], "max_calls must be 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(lm, args, message):
    start = time.monotonic()
    done = reason(lm, *args)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("lmulator: error: ") and message in line
    assert lm.log() == [] and time.monotonic() - start < 60


def test_ctrl_c_while_the_lm_writes_stops_it_with_one_line_and_130(lm):
    import signal

    lm.rules(*rules(delay=0.3))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmulator", "reason", QUESTION],
        env=env_for(lm),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("── program ")
        assert proc.stdout.readline() == PROGRAM.splitlines()[0] + "\n"  # still writing
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - start < 2.0
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["lmulator: stopped while the LM was writing; nothing ran"]
    assert "Traceback" not in err
    assert len(lm.log()) == 1  # no helper was asked: nothing ran
