"""The coc kernel, started with jupyter_client, talking to the scripted LM over HTTP."""

import re
import time

import pytest

from lmulator.exemplars import load_exemplars
from lmulator.testing import value_rule

from .helpers import Kernel, package_frames, shows_only_the_cells_frames

TRACE = "application/vnd.lmulator.trace+json"
# The line under a cell's value that came from the LM (or was computed from what did).
EMULATED = "\n~ emulated: the LM supplied this value or one it was computed from"


@pytest.fixture(scope="module")
def _kernel(_server_process):
    kernel = Kernel(
        env={
            "OPENAI_BASE_URL": _server_process.base_url,
            "OPENAI_API_KEY": "sk-test-DO-NOT-SHOW",
            "LMULATOR_CACHE": "off",
        }
    )
    yield kernel
    kernel.close()


@pytest.fixture
def kernel(_kernel, lm):
    _kernel.run("%mode interweave")
    return _kernel


def test_plain_cell_behaves_like_python(kernel):
    ex = kernel.run("x = 20\nprint('hello')\nx + 22")
    assert ex.status == "ok"
    assert ex.stdout == "hello\n"
    assert ex.result == "42"
    assert ex.of("display_data") == []  # nothing emulated, nothing extra
    assert "lmulator" not in ex.reply["metadata"]


def test_undefined_call_is_emulated_and_marked(kernel, lm):
    lm.rules(
        value_rule("get_country('Paris')", "France"), value_rule("get_country('Rome')", "Italy")
    )
    ex = kernel.run(
        "places = ['Paris', 'Rome', 'Paris']\ncountries = {get_country(p) for p in places}\nlen(countries)"
    )
    assert ex.status == "ok"
    assert ex.result == "2" + EMULATED
    (marks,) = [d for d in ex.of("display_data") if TRACE in d["data"]]
    plain = marks["data"]["text/plain"].splitlines()
    assert plain[1].startswith("~ 2 │ countries")
    assert "get_country('Paris') → 'France'" in " ".join(p.strip() for p in plain[1:])
    assert not plain[0].startswith("~")
    assert 'class="lm-line lm-emulated"' in marks["data"]["text/html"]
    records = marks["data"][TRACE]["records"]
    assert [r["value"] for r in records] == ["France", "Italy", "France"]
    in_reply = ex.reply["metadata"]["lmulator"]["records"]
    assert [{k: v for k, v in r.items() if k != "ms"} for r in in_reply] == records
    assert len(marks["metadata"][TRACE]["ms"]) == len(records)
    assert len(lm.log()) == 2


def test_errors_keep_the_stock_shape(kernel):
    kernel.run("%mode python")
    ex = kernel.run("def f():\n    raise ValueError('boom')\nf()")
    assert ex.status == "error"
    errors = ex.of("error")
    assert len(errors) == 1
    assert errors[0]["ename"] == "ValueError" and errors[0]["evalue"] == "boom"
    assert ex.reply["content"]["ename"] == "ValueError"
    assert not any("lmulator" in line for line in errors[0]["traceback"])


def test_emulation_failure_is_one_error_naming_the_line(kernel, lm):
    lm.rules(
        {
            "match": ["Emulate: oracle()"],
            "reply": {"value": 1},
            "fault": {"status": 500, "message": "down"},
        }
    )
    ex = kernel.run("a = 1\nb = oracle()")
    assert ex.status == "error"
    (error,) = ex.of("error")
    assert error["ename"] == "EmulationError"
    assert error["evalue"].startswith("line 2:")


def test_policy_refusals_are_not_emulated(kernel, lm):
    ex = kernel.run("import os")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "ImportRefused"
    ex = kernel.run("!ls")
    assert ex.status == "error" and "shell commands" in ex.of("error")[0]["evalue"]
    ex = kernel.run("%timeit 1")
    assert (
        ex.status == "error"
        and "not available under the restricted policy" in ex.of("error")[0]["evalue"]
    )
    assert lm.log() == []


def test_lm_magic_never_shows_the_key(kernel):
    out = kernel.run("%lm").stdout
    assert "api key      set" in out
    assert "sk-test" not in out


def test_mode_magic(kernel, lm):
    assert "mode: python" in kernel.run("%mode python").stdout
    bad = kernel.run("%mode nope")
    assert bad.status == "error" and "unknown mode 'nope'" in bad.reply["content"]["evalue"]
    # Magics run as Python in every mode: lm mode does not hand them to the LM.
    for mode in ("lm", "try-python-except-lm", "interweave"):
        kernel.run(f"%mode {mode}")
        assert "mode: python" in kernel.run("%mode python").stdout
    assert kernel.run("%mode lm\nx = %who_ls\n%mode python").status == "ok"
    assert lm.log() == []


def test_state_trace_and_undo(kernel, lm):
    lm.rules(value_rule("guess()", 7))
    kernel.run("n = 1")
    count = kernel.run("n = guess()").reply["content"]["execution_count"]
    state = kernel.run("%state").of("display_data")[0]["data"]["text/plain"]
    assert "LM (value at line 1)" in next(
        line for line in state.splitlines() if line.startswith("n ")
    )
    (table,) = kernel.run("%trace").of("display_data")
    assert "guess() → 7" in table["data"]["text/plain"]
    assert kernel.run("%undo").stdout == f"undid In[{count}] (emulated at line 1): restored n\n"
    assert kernel.run("n").result == "1"
    assert f"In[{count}]" not in kernel.run("%undo").stdout  # once only (then older cells)


def _interrupt_once_the_lm_is_asked(kernel, lm, code):
    """Run ``code``, interrupt the kernel while its LM request is in flight, check the reply
    comes within 2 s, and return what the cell produced."""
    msg_id = kernel.send(code)
    deadline = time.monotonic() + 20
    while not lm.log():  # wait until the request is in flight
        assert time.monotonic() < deadline, "the LM request never arrived"
    start = time.monotonic()
    kernel.km.interrupt_kernel()
    ex = kernel.collect(msg_id, timeout=10)
    assert time.monotonic() - start < 2.0
    assert package_frames(ex) == []  # (in lm mode no line of the cell ran: no frame at all)
    return ex


def test_interrupt_during_a_slow_lm_reply(kernel, lm):
    lm.rules({"match": ["Emulate: slow()"], "reply": {"value": 1}, "fault": {"delay": 30}})
    kernel.run("kept = 'yes'")
    ex = _interrupt_once_the_lm_is_asked(kernel, lm, "y = slow()")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "KeyboardInterrupt"
    assert shows_only_the_cells_frames(ex), package_frames(ex)
    state = kernel.run("%state").of("display_data")[0]["data"]["text/plain"]
    assert "kept" in state and not any(line.startswith("y ") for line in state.splitlines())
    assert kernel.run("kept").result == "'yes'"


def test_the_time_limit_during_a_slow_lm_reply_shows_the_cells_line_only(kernel, lm):
    lm.rules({"match": ["Emulate: slow()"], "reply": {"value": 1}, "fault": {"delay": 30}})
    kernel.run("%limits time=1")
    try:
        ex = kernel.run("x = 1\ny = slow()", timeout=20)
    finally:
        kernel.run("%limits time=0")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "CellTimeout"
    assert shows_only_the_cells_frames(ex), package_frames(ex)
    assert "y = slow()" in "\n".join(ex.of("error")[0]["traceback"])


@pytest.mark.parametrize(
    "mode", ["interweave", "lm", "try-python-except-lm", "try-python-except-lm-state"]
)
def test_interrupt_during_a_slow_drip_reply_in_every_mode(kernel, lm, mode):
    kernel.run("%mode python")
    kernel.run("kept = 'yes'")
    kernel.run(f"%mode {mode}")
    lm.rules({"match": [], "reply": {"value": 1, "delta": {"y": 1}}, "fault": {"drip": 0.5}})
    ex = _interrupt_once_the_lm_is_asked(kernel, lm, "y = slow()")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "KeyboardInterrupt"
    kernel.run("%mode python")
    assert kernel.run("kept").result == "'yes'"
    assert kernel.run("y").status == "error"  # nothing half-applied


def test_widgets_comm_round_trip(kernel):
    ex = kernel.run("import ipywidgets as widgets\ns = widgets.IntSlider(value=3)\ns")
    opens = [
        c for c in ex.of("comm_open") if c["data"]["state"].get("_model_name") == "IntSliderModel"
    ]
    assert len(opens) == 1 and opens[0]["target_name"] == "jupyter.widget"
    comm_id = opens[0]["comm_id"]
    msg = kernel.kc.session.msg(
        "comm_msg",
        {
            "comm_id": comm_id,
            "data": {"method": "update", "state": {"value": 7}, "buffer_paths": []},
        },
    )
    kernel.kc.shell_channel.send(msg)
    assert kernel.run("s.value").result == "7"


def test_slider_drives_an_emulated_function(kernel, lm):
    lm.rules(value_rule("describe(3)", "three"), value_rule("describe(5)", "five"))
    ex = kernel.run(
        "import ipywidgets as widgets\n"
        "def show(x):\n    print(describe(x))\n"
        "w = widgets.interactive(show, x=widgets.IntSlider(value=3, min=0, max=9))\n"
        "w.children[0].value = 5\n"
        "w.children[0].value"
    )
    assert ex.status == "ok", ex.of("error")
    assert ex.result == "5" + EMULATED
    asked = [m.split(">>> ")[-1] if ">>> " in m else m for m in lm.user_messages()]
    assert any("describe(3)" in m for m in asked) and any("describe(5)" in m for m in asked)


def test_widget_objects_do_not_lead_to_the_kernel(kernel):
    ex = kernel.run("import ipywidgets as widgets\nwidgets.IntSlider().comm.kernel")
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "PolicyError"


def test_coc_cell_magic(kernel, lm):
    program = "items = ['apple', 'rock']\nanswer = sum(1 for i in items if is_fruit(i))"
    lm.rules(
        {"match": ["Question: How many fruits"], "content": f"```python\n{program}\n```"},
        value_rule("is_fruit('apple')", True),
        value_rule("is_fruit('rock')", False),
    )
    ex = kernel.run("%%coc\nHow many fruits are in: apple, rock?")
    assert ex.status == "ok", ex.of("error")
    assert ex.result == "1" + EMULATED
    shown = [d for d in ex.of("display_data") if "text/markdown" in d["data"]]
    assert shown and program in shown[0]["data"]["text/markdown"]
    assert any(TRACE in d["data"] for d in ex.of("display_data"))
    assert kernel.run("coc_program").result == repr(program + "\n")


def test_coc_shows_the_lm_a_tasks_exemplars(kernel, lm):
    program = "answer = 'No'"
    lm.rules({"match": ["Question: Take 2 steps"], "content": f"```python\n{program}\n```"})
    ex = kernel.run("%%coc --examples navigate\nTake 2 steps. Do you return?")
    assert ex.status == "ok" and ex.result == "'No'", ex.of("error")
    sent = str(lm.log()[0]["messages"])
    first = load_exemplars("navigate")[0].question.splitlines()[0]
    assert first in sent  # the navigate exemplars, from the shipped file
    bad = kernel.run("%%coc --examples /etc/passwd\nAnything?")
    assert bad.status == "error" and "outside the notebook" in str(bad.messages)
    # More bad --examples: tests/kernel/test_magics.py


def _progress(ex):
    """The progress display's messages: its display_data and its updates, as (type, text)."""
    return [
        (m["msg_type"], m["content"]["data"].get("text/plain", ""))
        for m in ex.messages
        if m["msg_type"] in ("display_data", "update_display_data")
        and "lmulator-progress" in str(m["content"].get("transient", {}))
    ]


def test_progress_shows_to_a_person_and_is_blanked(kernel, lm):
    lm.rules(
        {"match": ["Emulate: slow_a()"], "reply": {"value": 1}, "fault": {"delay": 1.2}},
        {"match": ["Emulate: slow_b()"], "reply": {"value": 2}, "fault": {"delay": 1.2}},
    )
    ex = kernel.run("a = slow_a()\nb = slow_b()\na + b", allow_stdin=True)
    assert ex.result == "3" + EMULATED
    shown = _progress(ex)
    assert [t for t, _ in shown].count("display_data") == 1  # one display per cell, reused
    texts = [text for _, text in shown]
    assert any("slow_a()" in t for t in texts) and any("slow_b()" in t for t in texts)
    assert texts[-1] == ""  # blanked at the end


def test_batch_clients_get_no_progress_output(kernel, lm):
    lm.rules({"match": ["Emulate: slow()"], "reply": {"value": 1}, "fault": {"delay": 1.2}})
    ex = kernel.run("x = slow()\nx")  # allow_stdin false, as nbconvert and papermill send
    assert ex.result == "1" + EMULATED
    assert _progress(ex) == []
    texts = [d["data"].get("text/plain") for d in ex.of("display_data")]
    assert "" not in texts and not any(t and t.startswith("⋯") for t in texts)


def test_coc_shows_progress_while_the_program_is_written(kernel, lm):
    lm.rules(
        {
            "match": ["Question: Slowly"],
            "content": "```python\nanswer = 5\n```",
            "fault": {"delay": 2.2},
        }
    )
    ex = kernel.run("%%coc\nSlowly, what is five?", allow_stdin=True)
    assert ex.result == "5", ex.of("error")
    texts = [text for _, text in _progress(ex)]
    assert any(re.fullmatch(r"⋯ the LM is writing a program \(\d+ s\)", t) for t in texts)
    assert texts[-1] == "answer = 5\n"  # the counter's display became the program's


def test_a_program_the_lm_wrote_cannot_run_magics(kernel, lm):
    program = "get_ipython().run_line_magic('lm', 'base_url=http://127.0.0.1:9/steal')\nanswer = 1"
    lm.rules({"match": ["Question: Change"], "content": f"```python\n{program}\n```"})
    before = kernel.run("%lm").stdout
    ex = kernel.run("%%coc\nChange nothing?")
    assert ex.status == "error" and "may not run magics" in ex.reply["content"]["evalue"]
    assert kernel.run("%lm").stdout == before  # the endpoint (and the key's destination) kept
    assert kernel.run("%mode").status == "ok"  # typed magics still work


def test_explore_overwrites_a_value_and_reruns(kernel, lm):
    lm.rules(value_rule("get_country('Lyon')", "Lyon"), value_rule("get_country('Rome')", "Italy"))
    kernel.run(
        "cities = ['Lyon', 'Rome']\ncountries = [get_country(c) for c in cities]\nlen(set(countries))"
    )
    ex = kernel.run("%explore")
    opens = {c["data"]["state"]["_model_name"]: c["comm_id"] for c in ex.of("comm_open")}
    assert {"SelectModel", "TextModel", "ButtonModel", "VBoxModel"} <= set(opens)
    select = next(
        c for c in ex.of("comm_open") if c["data"]["state"]["_model_name"] == "SelectModel"
    )
    assert "get_country('Lyon') → 'Lyon'" in select["data"]["state"]["_options_labels"][0]

    def send(comm_id, data):
        kernel.kc.shell_channel.send(
            kernel.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        )

    send(
        opens["TextModel"], {"method": "update", "state": {"value": '"France"'}, "buffer_paths": []}
    )
    send(opens["ButtonModel"], {"method": "custom", "content": {"event": "click"}})
    assert kernel.run("countries").result == "['France', 'Italy']" + EMULATED
