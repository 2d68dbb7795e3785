"""Partial programs: missing pieces are resolved cheaply first, and the program goes on."""

import json
import time

import pytest

from lmulator.bench.coverage import measure, parse_snippet, statement_lines
from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.partial.exercise import exercise_definitions
from lmulator.partial.standin import StandIn
from lmulator.policy import Policy
from lmulator.testing import FakeChatClient, value_rule


def partial(**extra):
    return Session(Config(partial=True, lm="off", cache="off", **extra), policy="partial")


def hows(result):
    return {r.target: r.how for r in result.trace if r.status == "emulated"}


def test_missing_module_name_is_imported():
    result = partial().run("random.seed(3)\nx = random.randint(1, 6)\nx")
    assert isinstance(result.value, int)
    assert hows(result)["random"] == "import"


def test_types_fixed_by_use_need_no_lm():
    s = partial()
    result = s.run(
        "for item in items:\n    seen = item\n"
        "if is_ready(seen):\n    state = 'ready'\n"
        "names.append('a')\n"
        "count = len(rows)\n"
        "total = price * 2\n"
        "state, names, count"
    )
    assert result.error is None, result.error
    assert result.value == ("ready", ["a"], 1)
    how = hows(result)
    assert how["items"] == "inferred" and how["names"] == "inferred" and how["rows"] == "inferred"
    assert how["is_ready(<stand-in items[0]>)"] == "inferred"


def test_stand_ins_cover_what_is_left():
    s = partial()
    result = s.run(
        "import numpy as np\n"
        "arr = np.array([1, 2, 3])\n"
        "mean = arr.mean()\n"
        "with open_database(url) as db:\n    rows = db.query('select 1')\n"
        "fig, ax = plt.subplots()\n"
        "for key, value in config.items():\n    last = key\n"
        "done = True\n"
    )
    assert result.error is None, result.error
    assert s.namespace["done"] is True
    assert isinstance(s.namespace["fig"], StandIn) and isinstance(s.namespace["ax"], StandIn)
    assert isinstance(s.namespace["last"], StandIn)
    assert hows(result)["url"] == "stand-in"


def test_a_call_that_fails_only_on_a_stand_in_gives_a_stand_in():
    s = partial()
    result = s.run("import json\ndata = json.loads(payload)\nafter = 1")
    assert result.error is None
    assert isinstance(s.namespace["data"], StandIn)
    failed = [r for r in result.trace if r.masked_error]
    assert failed and failed[0].masked_error.startswith("TypeError")


def test_genuine_errors_still_stop_the_program():
    result = partial(emulate_statements=False).run("x = 1\ny = x + 'a'\nz = 2")
    assert isinstance(result.error, TypeError)


def test_exit_and_top_level_return_end_cleanly():
    s = partial()
    result = s.run("a = 1\nexit(a + 1)\nb = 2")
    assert result.error is None and result.exit_value == 2 and "b" not in s.namespace
    result = partial().run("a = 1\nreturn a\nb = 2")
    assert result.error is None and result.exit_value == 1


def test_names_bound_later_in_the_snippet_are_resolved_then_rebound():
    s = partial()
    result = s.run("text = ','.join(words)\nwords = ['a', 'b']\nagain = ','.join(words)")
    assert result.error is None, result.error
    assert s.namespace["again"] == "a,b"


def lm_partial(values=None, **config):
    """A partial session whose LM answers ``values`` by target (no HTTP; the first failure ends
    the run, as in the coverage benchmark's headline figure, unless ``config`` says otherwise)."""
    options = {"cache": "off", "emulate_statements": False, **config}
    return Session.for_snippets(Config(**options), client=FakeChatClient(values))


def test_the_lm_is_not_asked_while_made_up_values_serve():
    s = lm_partial({"threshold": 0.75})
    result = s.run("score = 0.9\nlevel = threshold\nlevel")
    assert isinstance(result.value, StandIn)
    assert hows(result)["threshold"] == "stand-in"
    assert s.emulator.requests_sent == 0


def test_a_statement_that_fails_on_a_made_up_value_is_repaired_by_the_lm():
    s = lm_partial({"names": ["ann", "bo"]})
    # `if names:` makes it a boolean; `len(names)` then fails until the LM gives the list.
    result = s.run("if names:\n    seen = True\ntotal = len(names)\nafter = total + 1")
    assert result.error is None, result.error
    assert s.namespace["total"] == 2 and s.namespace["after"] == 3
    assert s.emulator.requests_sent == 1
    asked = [r for r in result.trace if r.how == "lm"]
    assert asked and asked[0].target == "names" and "TypeError" in asked[0].request["error"]


def test_a_repair_that_does_not_help_leaves_the_made_up_value_and_the_first_error():
    s = lm_partial({"names": ["ann"]})  # len() works, then `+ "x"` fails on its own
    result = s.run("if names:\n    seen = True\ntotal = len(names) + 'x'\nafter = 1")
    assert isinstance(result.error, TypeError) and "bool" in str(result.error)
    assert s.namespace["names"] is True and "after" not in s.namespace
    (asked,) = [r for r in result.trace if r.how == "lm"]
    assert asked.masked_error.endswith("which was not kept")


def test_an_lm_value_that_cannot_serve_the_uses_is_not_tried():
    s = lm_partial({"names": 7})  # iterated: a number cannot serve
    result = s.run("if names:\n    pass\nfor n in names:\n    pass")
    assert isinstance(result.error, TypeError) and s.namespace["names"] is True
    assert s.emulator.requests_sent == 1


def test_no_repair_is_asked_without_an_lm_or_for_the_programs_own_values():
    result = partial(emulate_statements=False).run("if names:\n    pass\ntotal = len(names)")
    assert isinstance(result.error, TypeError)
    s = lm_partial()
    result = s.run("names = True\ntotal = len(names)")
    assert isinstance(result.error, TypeError) and s.emulator.requests_sent == 0


def test_exercising_a_stub_after_the_lm_budget_is_spent_ends_the_exercise_quietly():
    s = lm_partial()
    result = s.run('def lookup(key):\n    """The value stored under key."""\n')
    s.lm_deadline = time.monotonic() - 1  # no time left to ask the LM
    assert exercise_definitions(s.namespace, result.source, ()) == 1
    assert s.emulator.requests_sent == 0


def test_a_partial_program_skips_a_failing_statement_once_the_lm_has_no_time_left():
    s = lm_partial(emulate_statements=True)
    s.lm_deadline = time.monotonic() - 1
    result = s.run("x = 1\ny = x + 'a'\nz = 2")
    assert result.error is None and s.namespace["z"] == 2 and "y" not in s.namespace
    (skipped,) = [r for r in result.trace if r.how == "skip"]
    assert "no time left" in skipped.masked_error and s.emulator.requests_sent == 0


def test_a_policy_shared_with_a_partial_session_is_left_as_it_was():
    shared = Policy("partial")
    snippets = Session(Config(partial=True, lm="off", cache="off"), policy=shared)
    plain = Session(Config(lm="off", cache="off", emulate_statements=False), policy=shared)
    assert isinstance(snippets.run("import numpy\nnumpy").value, StandIn)
    result = plain.run("import numpy")
    assert isinstance(result.error, ImportError)  # no stand-in leaked into the shared policy
    assert shared.synthetic_modules["sys"].get("exit") is None


def test_an_lm_request_under_way_is_cut_off_at_the_lm_deadline(lm):
    lm.rules(value_rule("names", ["a"], fault={"delay": 30}))
    s = Session.for_snippets(
        Config(base_url=lm.base_url, cache="off", emulate_statements=False, timeout=30)
    )
    s.run("warm = 1")
    assert s.emulator.client is not None  # made (openai imported) before the clock starts
    s.lm_deadline = time.monotonic() + 2
    result = s.run("if names:\n    pass\ntotal = len(names)")
    assert isinstance(result.error, TypeError) and s.namespace["names"] is True  # not repaired
    (cut,) = [r for r in result.trace if r.target == "names" and r.status == "error"]
    assert "did not answer in the time left" in cut.error
    assert time.monotonic() < s.lm_deadline + 20  # far sooner than the 30 s the reply takes


def test_parse_snippet_dedents_fragments():
    source, tree = parse_snippet("    x = 1\n    y = x + 1\n")
    assert statement_lines(tree) == {1, 2}
    assert parse_snippet("def broken(:\n") is None


@pytest.mark.parametrize(
    "snippet, coverage",
    [
        ("a = 1\nb = a + 1\n", 1.0),
        ("a = 1\nb = a + 'x'\nc = 3\nd = 4\n", 0.25),
        ("import pandas as pd\ndf = pd.read_csv(path)\nprint(df.head())\n", 1.0),
        ("def f(:\n", 0.0),
        ("x = compute(1)\nexit(x)\nnever = 1\n", 2 / 3),
    ],
)
def test_measure_counts_lines_run_to_completion(tmp_path, snippet, coverage):
    path = tmp_path / "s.py"
    path.write_text(snippet)
    result = measure(path, lm="none", seconds=10)
    assert result.coverage == pytest.approx(coverage)


@pytest.mark.parametrize(
    "snippet",
    [
        "x = 1\nraise SystemExit(3)\ny = 2\n",
        "def f():\n    raise SystemExit\nf()\nz = 1\n",
        "class R:\n    def __repr__(self):\n        raise KeyboardInterrupt\nr = R()\nprint([r])\n",
    ],
)
def test_a_snippet_that_exits_or_interrupts_itself_is_counted_and_the_bench_goes_on(
    tmp_path, snippet, capsys
):
    from lmulator.bench.__main__ import main

    (tmp_path / "a.py").write_text(snippet)
    (tmp_path / "b.py").write_text("ok = 1\n")
    assert main(["coverage", str(tmp_path), "--lm", "none", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "a.py" in out and ("SystemExit" in out or "KeyboardInterrupt" in out)
    assert "files: 2 under" in out and "mean line coverage" in out


def test_a_bench_given_bad_settings_says_so(tmp_path, capsys):
    from lmulator.bench.__main__ import main

    (tmp_path / "a.py").write_text("ok = 1\n")
    assert main(["coverage", str(tmp_path), "--lm", "off"]) == 2
    assert "base URL" in capsys.readouterr().err


def test_interweave_coverage_goes_on_after_a_failure(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("a = 1\nb = a + 'x'\nc = 3\nd = 4\n")
    result = measure(path, lm="none", seconds=10)
    assert result.coverage == 0.25
    assert result.coverage_interweave == 0.75  # the failing line is skipped, not counted


def test_raise_errors_surfaces_a_real_type_error(tmp_path):
    path = tmp_path / "bug.py"
    path.write_text("items = load()\ncount = len(items)\nlabel = 'n=' + count\n")
    result = measure(path, lm="none", seconds=10, raise_errors=True)
    assert result.error and result.error.startswith("TypeError")


def test_benchmark_command_prints_the_comparable_figure_last(tmp_path, capsys):
    from lmulator.bench.__main__ import main

    (tmp_path / "one.py").write_text("a = 1\nb = missing(a)\n")
    (tmp_path / "two.py").write_text("x = 1\ny = x + 'a'\n")
    out = tmp_path / "res.json"
    main(["coverage", str(tmp_path), "--lm", "none", "--json", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == "mean line coverage: 75.0%"
    assert len(json.loads(out.read_text())) == 2


def test_an_lm_value_does_what_it_can_and_a_stand_in_does_the_rest():
    from lmulator.partial.standin import StandIn, dress

    country, count, items, table = dress("France"), dress(3), dress([1, 2]), dress({"a": 1})
    assert country + "!" == "France!" and count + 2 == 5 and 2**count == 8
    assert count * "ab" == "ababab" and items * count == [1, 2] * 3
    assert isinstance(country + 1, StandIn) and isinstance(1 + country, StandIn)  # str + int
    assert isinstance(items + "x", StandIn) and isinstance(count + country, StandIn)
    assert (country > 3) is False and (country == "France") is True
    assert int(country) == 1 and int(dress("7")) == 7 and float(dress("2.5")) == 2.5
    assert table["a"] == 1 and isinstance(table["missing"], StandIn)
    assert "abc"[dress("1")] == "b" and [10, 20][dress("x")] == 20  # an index, as a stand-in's
    count["k"] = 1  # item assignment on a number or string is absorbed, as by a stand-in
    country["k"] = 1


def test_a_session_for_snippets_sets_both_knobs():
    from lmulator.config import Config
    from lmulator.engine.session import Session

    s = Session.for_snippets(Config(lm="off"))
    assert s.config.partial and s.policy.name == "partial"
    result = s.run("import pandas as pd\nframe = pd.read_csv(path)\nrows = len(frame)")
    assert result.error is None and s.namespace["rows"] == 1  # stand-ins all the way


def test_past_its_lm_budget_a_partial_program_gets_stand_ins(lm, session):
    import time

    from lmulator.partial.standin import StandIn

    lm.rules(value_rule("count", 3))
    s = session(partial=True, policy="partial")
    s.lm_deadline = time.monotonic() - 1  # the budget is spent
    result = s.run("n = count\nm = n + 1")
    assert result.error is None and isinstance(s.namespace["n"], StandIn)
    assert lm.log() == []  # no request was sent
