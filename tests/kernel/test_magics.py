"""Every magic's bad input fails the cell: one error reply, one line, nothing changed; %undo says
which cell it undid. The kernel runs in a directory outside the repository (its workspace)."""

import pytest

from lmulator.testing import value_rule

from .helpers import Execution, Kernel


@pytest.fixture(scope="module")
def _kernel(_server_process, tmp_path_factory):
    kernel = Kernel(
        env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"},
        cwd=str(tmp_path_factory.mktemp("magics-workspace")),
    )
    yield kernel
    kernel.close()


@pytest.fixture
def kernel(_kernel, lm):
    _kernel.run("%mode interweave")
    return _kernel


def stderr(ex: Execution) -> str:
    return "".join(c["text"] for c in ex.of("stream") if c["name"] == "stderr")


def settings(kernel: Kernel) -> list[str]:
    """What the magics show of the kernel's settings."""
    return [kernel.run(m).stdout for m in ("%lm", "%mode", "%limits", "%policy")]


BAD_INPUT = [
    ("%mode banana", "%mode", "unknown mode 'banana'"),
    ("%limits time=abc", "%limits", "time needs a number"),
    ("%limits time=-1", "%limits", "cell timeout must be 0 (none) or positive"),
    ("%limits time=nan", "%limits", "cell timeout must be"),
    ("%limits time=5 memory=lots", "%limits", "memory needs a whole number"),
    ("%limits memory=-5", "%limits", "memory limit must be"),
    ("%limits cpu=3", "%limits", "expected time=SECONDS, memory=MB, calls=N or tokens=N"),
    ("%lm timeout=-5", "%lm", "timeout must be a positive number"),
    ("%lm timeout=0", "%lm", "timeout must be a positive number"),
    ("%lm timeout=inf", "%lm", "timeout must be a positive number"),
    ("%lm temperature=hot", "%lm", "temperature needs a number"),
    ("%lm temperature=3", "%lm", "temperature must be between 0 and 2"),
    ("%lm min_confidence=1.5", "%lm", "min_confidence must be between 0 and 1"),
    ("%lm model=other timeout=-1", "%lm", "timeout must be"),  # the model is not set either
    ("%lm raise_errors=maybe", "%lm", "raise_errors must be on or off"),
    ("%lm colour=blue", "%lm", "expected key=value"),
    ("%lm model='unclosed", "%lm", "cannot read"),
    ("%policy banana", "%policy", "choose restricted or trusted"),
    ("%trace everything", "%trace", "takes no arguments"),
    ("%state x", "%state", "takes no arguments"),
    ("%explore now", "%explore", "takes no arguments"),
    ("%undo 0", "%undo", "expected a number of cells"),
    ("%undo all", "%undo", "expected a number of cells"),
    ("%undo 999", "%undo", "nothing was undone"),
    ("%sandbox off", "%sandbox", "set when the kernel starts"),
    ("%%isolated --fast\n1", "%%isolated", "the only option is restart"),
    ("%%coc\n   ", "%%coc", "write a question"),
    ("%%coc --frobnicate\nAny?", "%%coc", "expected --examples"),
    ("%%coc --examples no_such_file.txt\nAny?", "%%coc", "neither a task"),
    ("%%coc --examples /etc/passwd\nAny?", "%%coc", "outside the notebook"),
]


@pytest.mark.parametrize(("code", "magic", "why"), BAD_INPUT)
def test_bad_input_fails_the_cell_with_one_line_and_changes_nothing(kernel, code, magic, why):
    before = settings(kernel)
    ex = kernel.run(code)
    assert ex.status == "error"
    assert ex.reply["content"]["ename"] == "UsageError"
    assert ex.of("error") == []  # no traceback
    (line,) = stderr(ex).splitlines()
    assert line.startswith(f"UsageError: {magic}: ") and why in line, line
    assert ex.stdout == ""
    assert settings(kernel) == before


def test_a_bad_magic_stops_the_cell_there(kernel):
    ex = kernel.run("before = 1\n%mode banana\nafter = 2")
    assert ex.status == "error"
    assert kernel.run("before").result == "1"
    assert kernel.run("after").status == "error"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_lm_help_prints_every_setting(kernel, flag):
    ex = kernel.run(f"%lm {flag}")
    assert ex.status == "ok" and stderr(ex) == ""
    for setting in ("base_url=", "model=", "temperature=", "timeout=", "min_confidence=",
                    "cache=", "record=", "replay_file=", "raise_errors=", "emulate_io="):  # fmt: skip
        assert setting in ex.stdout


def test_good_settings_still_apply(kernel):
    try:
        assert kernel.run("%lm timeout=12.5").status == "ok"
        assert kernel.run("%limits time=7").status == "ok"
        assert "7 s" in kernel.run("%limits").stdout
    finally:
        kernel.run("%lm timeout=60")
        kernel.run("%limits time=0")


def test_a_coc_program_that_fails_fails_the_cell(kernel, lm):
    program = "n = 3\nanswer = n / 0"
    lm.rules({"match": ["Question: How many halves"], "content": f"```python\n{program}\n```"})
    kernel.run("%mode python")  # the error is raised, not handed to the LM
    ex = kernel.run("%%coc\nHow many halves are in zero?")
    assert ex.status == "error" and ex.reply["content"]["ename"] == "UsageError"
    (line,) = stderr(ex).splitlines()
    assert line == (
        "UsageError: %%coc: the program failed at line 2: ZeroDivisionError: division by zero "
        "(kept as coc_program)"
    )
    assert any("text/markdown" in d["data"] for d in ex.of("display_data"))  # it was shown
    assert kernel.run("coc_program").result == repr(program + "\n")


def _undo_everything(kernel: Kernel) -> None:
    """Undo what earlier tests left, one cell at a time (MAX_UNDO steps at most)."""
    for _ in range(50):
        if "nothing to undo" in kernel.run("%undo").stdout:
            return
    raise AssertionError("%undo never ran out of cells")


def _cell(kernel: Kernel, code: str) -> int:
    """Run a cell that must succeed; its execution count."""
    ex = kernel.run(code)
    assert ex.status == "ok", ex.of("error")
    return ex.reply["content"]["execution_count"]


def test_undo_names_the_last_cell_that_emulated_something_and_its_names(kernel, lm):
    lm.rules(value_rule("guess()", 7), value_rule("other()", 8), value_rule("third()", 9))
    _undo_everything(kernel)
    _cell(kernel, "n = 1\nm = 2\nk = 3")
    first = _cell(kernel, "k = third()")
    second = _cell(kernel, "n = guess()\nx = 0\nm = other()")
    _cell(kernel, "v = 6")  # plain: nothing to undo here
    out = kernel.run("%undo").stdout
    assert out == f"undid In[{second}] (emulated at lines 1, 3): restored m, n\n"
    assert kernel.run("(n, m, k, v, x)").result.startswith("(1, 2, 9, 6, 0)")  # k stays
    out = kernel.run("%undo 1").stdout
    assert out == f"undid In[{first}] (emulated at line 1): restored k\n"
    assert kernel.run("k").result == "3"
    assert "nothing to undo" in kernel.run("%undo").stdout


def test_undo_n_goes_back_n_cells_and_keeps_what_was_bound_since(kernel, lm):
    lm.rules(value_rule("guess()", 7), value_rule("other()", 8))
    _undo_everything(kernel)
    _cell(kernel, "a = 1\nb = 2")
    first = _cell(kernel, "a = guess()")
    second = _cell(kernel, "b = other()")
    _cell(kernel, "a = 100")  # bound again after the cell that emulated it
    out = kernel.run("%undo 2").stdout.splitlines()
    assert out == [
        f"undid In[{second}] (emulated at line 1): restored b",
        f"undid In[{first}] (emulated at line 1): restored nothing; kept a (bound again since)",
    ]
    assert kernel.run("(a, b)").result == "(100, 2)"
    state = kernel.run("%state").of("display_data")[0]["data"]["text/plain"]
    assert not any(line.startswith(("a ", "b ")) and "LM" in line for line in state.splitlines())
