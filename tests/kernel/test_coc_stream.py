"""%%coc as it is watched: the program streamed into the cell, an interrupt mid-stream, the LM
usage that ends a cell, and the budgets of %limits — a real kernel, the scripted server over
HTTP, streaming as an OpenAI-compatible endpoint does."""

import time

import pytest

from lmulator.testing import value_rule

from .helpers import Execution, Kernel, package_frames

PROGRAM = "\n".join(
    [
        "fruits = ['apple', 'car', 'banana', 'pear']",
        "count = 0",
        "for item in fruits:",
        "    if is_fruit(item):",
        "        count += 1",
        "note = 'counted'",
        "answer = count",
    ]
)
QUESTION = "How many of these are fruits: apple, car, banana, pear?"


@pytest.fixture(scope="module")
def _kernel(_server_process):
    kernel = Kernel(env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"})
    yield kernel
    kernel.close()


@pytest.fixture
def kernel(_kernel, lm):
    _kernel.run("%mode interweave")
    _kernel.run("%limits calls=0 tokens=0")
    return _kernel


def fruit_rules(delay: float) -> list[dict]:
    """The program, streamed a token every ``delay`` s, and its helper's answers."""
    return [
        {
            "match": [f"Question: {QUESTION}"],
            "content": f"```python\n{PROGRAM}\n```",
            "fault": {"stream_delay": delay},
        },  # fmt: skip
        *(value_rule(f"is_fruit('{w}')", w != "car") for w in ("apple", "car", "banana", "pear")),
    ]


def limit_shown(kernel: Kernel, name: str) -> str:
    """What ``%limits`` says of one limit."""
    for line in kernel.run("%limits").stdout.splitlines():
        if line.startswith(f"{name} per cell"):
            return line.removeprefix(f"{name} per cell").strip()
    raise AssertionError(f"%limits does not show {name}")


def displays(ex: Execution) -> list[tuple[str, dict]]:
    """The cell's display messages in order: (type, content)."""
    kinds = ("display_data", "update_display_data", "execute_result")
    return [(m["msg_type"], m["content"]) for m in ex.messages if m["msg_type"] in kinds]


def test_the_program_arrives_in_the_cell_as_it_is_written(kernel, lm):
    lm.rules(*fruit_rules(0.03))
    ex = kernel.run(f"%%coc\n{QUESTION}", allow_stdin=True)  # a person watching
    assert ex.status == "ok", ex.of("error")
    shown = displays(ex)
    kinds = [kind for kind, _ in shown]
    answer_at = kinds.index("execute_result")
    assert shown[answer_at][1]["data"]["text/plain"].startswith("3")
    program_id = next(
        c["transient"]["display_id"]
        for _, c in shown
        if "(the LM is writing it)" in c["data"].get("text/markdown", "")
    )
    growing = [
        c["data"]["text/plain"]
        for k, c in shown[:answer_at]
        if c.get("transient", {}).get("display_id") == program_id
        and "(the LM is writing it)" in c["data"].get("text/markdown", "")
        and "```python" in c["data"]["text/markdown"]  # a line of it or more
    ]
    assert len(growing) >= 3, growing
    assert all(PROGRAM.startswith(text.rstrip("\n")) for text in growing)
    assert [len(t) for t in growing] == sorted(len(t) for t in growing)  # it only grows
    final = [
        c for k, c in shown[:answer_at]
        if k == "update_display_data" and c["transient"]["display_id"] == program_id
    ][-1]  # fmt: skip
    assert "(kept as `coc_program`)" in final["data"]["text/markdown"]
    assert final["data"]["text/plain"].rstrip("\n") == PROGRAM


def test_a_batch_client_gets_the_final_program_once_and_no_updates(kernel, lm):
    lm.rules(*fruit_rules(0.0))
    ex = kernel.run(f"%%coc\n{QUESTION}")  # nbval, papermill: no stdin
    assert ex.status == "ok"
    assert ex.of("update_display_data") == []
    programs = [d for d in ex.of("display_data") if "text/markdown" in d["data"]]
    assert len(programs) == 1 and PROGRAM in programs[0]["data"]["text/plain"]


def test_an_interrupt_mid_stream_ends_the_cell_at_once_with_one_line(kernel, lm):
    lm.rules(*fruit_rules(0.4))
    kernel.run("kept = 'yes'\ncoc_program = 'before'")
    msg_id = kernel.send(f"%%coc\n{QUESTION}", allow_stdin=True)
    deadline = time.monotonic() + 30
    while True:  # until the first lines of the program are in the cell
        msg = kernel.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        data = msg["content"].get("data", {})
        if "(the LM is writing it)" in data.get("text/markdown", ""):
            break
    start = time.monotonic()
    kernel.km.interrupt_kernel()
    ex = kernel.collect(msg_id, timeout=10)
    assert time.monotonic() - start < 1.0
    assert ex.status == "error" and ex.reply["content"]["ename"] == "KeyboardInterrupt"
    (error,) = ex.of("error")
    assert len(error["traceback"]) == 1 and "nothing ran" in error["traceback"][0]
    assert package_frames(ex) == []
    last = [c for k, c in displays(ex) if k == "update_display_data"][-1]
    assert "(stopped: nothing ran)" in last["data"]["text/markdown"]
    assert kernel.run("kept, coc_program").result == "('yes', 'before')"
    assert kernel.run("1 + 1").result == "2"  # the kernel goes on at once


def test_a_cell_that_used_the_lm_ends_with_its_calls_tokens_and_seconds(kernel, lm):
    lm.rules(value_rule("size_of('ant')", 1), value_rule("size_of('cow')", 9))
    ex = kernel.run("a = size_of('ant')\nb = size_of('cow')\na + b")
    assert ex.status == "ok"
    last = ex.messages[-1]
    assert last["msg_type"] == "display_data"  # after the value and the marks
    plain = last["content"]["data"]["text/plain"]
    usage = last["content"]["metadata"]["lmulator"]["usage"]
    assert usage["calls"] == 2 and plain.startswith("LM: 2 calls, ")
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert f"{usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion" in plain
    assert kernel.run("x = 1 + 1").of("display_data") == []  # no LM, no usage line


def test_a_coc_cells_usage_counts_the_program_and_its_helpers(kernel, lm):
    program = "answer = [w for w in ['fig', 'bolt', 'kiwi'] if is_edible(w)]"
    lm.rules(
        {"match": ["Question: Which are edible"], "content": f"```python\n{program}\n```"},
        *(value_rule(f"is_edible('{w}')", w != "bolt") for w in ("fig", "bolt", "kiwi")),
    )
    ex = kernel.run("%%coc\nWhich are edible: fig, bolt, kiwi?")
    assert ex.result.startswith("['fig', 'kiwi']")
    usage = [d for d in ex.of("display_data") if "lmulator" in d.get("metadata", {})]
    assert usage[-1]["metadata"]["lmulator"]["usage"]["calls"] == 4  # 1 program + 3 helpers


def test_limits_calls_stops_a_cell_at_its_budget_and_keeps_the_state(kernel, lm):
    lm.rules(*(value_rule(f"weight({n})", n * 10) for n in range(1, 5)))
    kernel.run("total = 'before'")
    assert kernel.run("%limits calls=2").status == "ok"
    assert limit_shown(kernel, "LM calls") == "2"
    ex = kernel.run("total = 0\nfor n in range(1, 5):\n    total += weight(n)")
    assert ex.status == "error"
    (error,) = ex.of("error")
    text = "\n".join(error["traceback"])
    assert "LM budget is spent: 2 of 2 calls" in text and "%limits calls=N" in text
    assert package_frames(ex) == []
    assert len(lm.log()) == 2  # the third request was never sent
    assert kernel.run("total").result.startswith("30\n")  # what ran before the budget stays
    assert kernel.run("%limits calls=0").status == "ok"
    assert kernel.run("total + weight(3)").result.startswith("60")  # the next cell is free


def test_limits_tokens_stops_a_cell_once_they_are_spent(kernel, lm):
    lm.rules(*(value_rule(f"height({n})", n) for n in range(1, 5)))
    kernel.run("%limits tokens=1")
    ex = kernel.run("a = height(1)\nb = height(2)")
    assert ex.status == "error"
    assert "LM budget is spent" in "\n".join(ex.of("error")[0]["traceback"])
    assert len(lm.log()) == 1  # one request spends more than a token; the next is refused
    assert kernel.run("a").result.startswith("1")


@pytest.mark.parametrize("line", ["calls=-1", "calls=two", "tokens=1.5", "budget=3"])
def test_bad_limits_are_one_line_and_change_nothing(kernel, line):
    ex = kernel.run(f"%limits {line}")
    assert ex.status == "error" and ex.reply["content"]["ename"] == "UsageError"
    assert limit_shown(kernel, "LM calls") == "none"
