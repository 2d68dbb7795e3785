"""The stepwise executor: value-level and statement-level emulation, no re-execution."""

from lmulator.errors import EmulationError
from lmulator.testing import delta_rule, value_rule

COC_EXAMPLE = """\
places = ["Paris", "Rome", "Lyon", "Paris", "Tokyo", "Rome"]
countries = set()
for place in places:
    countries.add(get_country(place))
answer = len(countries)
answer
"""
COUNTRIES = {"Paris": "France", "Rome": "Italy", "Lyon": "France", "Tokyo": "Japan"}


def country_rules():
    return [value_rule(f"get_country({p!r})", c) for p, c in COUNTRIES.items()]


def test_running_example_one_request_per_distinct_place(lm, session):
    lm.rules(*country_rules())
    result = session().run(COC_EXAMPLE)
    assert result.error is None
    assert result.value == 3
    asked = [m for m in lm.user_messages() if "Emulate: get_country" in m]
    assert len(asked) == 4  # Paris, Rome, Lyon, Tokyo: repeats are memoized
    lines = {r.line for r in result.emulated}
    assert lines == {4}
    assert [r.value for r in result.emulated] == [
        COUNTRIES[p] for p in eval(COC_EXAMPLE.split("=")[1].split("\n")[0])
    ]


def test_value_level_emulation_keeps_the_rest_of_the_statement_native(lm, session):
    lm.rules(value_rule("get_country('Paris')", "France"))
    s = session()
    result = s.run("seen = []\nseen.append(get_country('Paris').upper())\nseen")
    assert result.value == ["FRANCE"]
    assert result.emulated[0].target == "get_country('Paris')"


def test_each_statement_runs_once(lm, session):
    lm.rules(value_rule("mystery(2)", 10), delta_rule("total += int(w)", {"total": 103}))
    s = session()
    result = s.run(
        "ran = []\n"
        "def step(tag):\n    ran.append(tag)\n    return tag\n"
        "step('a')\n"
        "for w in ['1', 'two']:\n"
        "    step('loop-' + w)\n"
        "    total = step(100) if w == '1' else total\n"
        "    total += int(w)\n"
        "    step(mystery(2))\n"
        "step('z')\n"
        "ran, total"
    )
    assert result.error is None, result.error
    ran, total = result.value
    assert ran == ["a", "loop-1", 100, 10, "loop-two", 10, "z"]
    assert total == 103
    statuses = [(r.line, r.status) for r in result.trace]
    assert (9, "emulated") in statuses  # `total += int(w)` masked ValueError
    masked = [r for r in result.trace if r.masked_error]
    assert masked and masked[0].masked_error.startswith("ValueError")


def test_statement_level_emulation_inside_a_function_binds_locals(lm, session):
    lm.rules(delta_rule("n = int(word)", {"n": 3}))
    s = session()
    result = s.run("def parse(word):\n    n = int(word)\n    return n * 2\nparse('three')")
    assert result.value == 6
    assert result.trace[0].delta == {"n": 3}


def test_stub_functions_are_emulated_with_their_docstring(lm, session):
    lm.rules(value_rule("is_sarcastic('Great, another Monday.')", True))
    s = session()
    result = s.run(
        'def is_sarcastic(s):\n    """True if s is sarcastic."""\n    ...\n'
        "verdict = is_sarcastic('Great, another Monday.')\nverdict"
    )
    assert result.value is True
    message = lm.user_messages()[0]
    assert "True if s is sarcastic." in message
    assert result.emulated[0].line == 4  # marked where it was called


def test_not_implemented_stub_is_emulated(lm, session):
    lm.rules(value_rule("area(2, 3)", 6))
    result = session().run("def area(w, h):\n    raise NotImplementedError\narea(2, 3)")
    assert result.value == 6


def test_function_defined_later_is_used_instead_of_the_lm(lm, session):
    s = session()
    s.run("def report(x):\n    return helper(x) + 1")
    s.run("def helper(x):\n    return x * 10")
    result = s.run("report(4)")
    assert result.value == 41
    assert lm.log() == []


def test_undefined_name_is_emulated(lm, session):
    lm.rules(value_rule("threshold", 0.5))
    result = session().run("score = 0.7\nscore > threshold")
    assert result.value is True


def test_failing_final_expression_gets_a_value(lm, session):
    lm.rules({"match": ["Value request", "Emulate: int('seven')"], "reply": {"value": 7}})
    result = session().run("int('seven')")
    assert result.value == 7
    assert result.trace[0].masked_error.startswith("ValueError")


def test_top_level_statement_delta_is_applied(lm, session):
    lm.rules(delta_rule("count = int('three') + 1", {"count": 4}))
    s = session()
    result = s.run("count = int('three') + 1\ndoubled = count * 2")
    assert s.namespace["doubled"] == 8
    assert result.trace[0].status == "emulated"


def test_user_try_except_is_respected(lm, session):
    s = session()
    result = s.run(
        "def parse(s):\n    return int(s)\n"
        "try:\n    v = parse('x')\nexcept ValueError:\n    v = -1\nv"
    )
    assert result.value == -1
    assert lm.log() == []


def test_emulation_failure_ends_the_cell_with_a_clear_error(lm, session):
    lm.rules(
        {"match": ["Emulate: oracle()"], "content": "not json"},
        {"match": ["That reply was invalid", "not valid JSON"], "content": "still not json"},
    )
    s = session()
    result = s.run("before = 1\nx = oracle()\nafter = 2")
    assert isinstance(result.error, EmulationError)
    assert result.error.line == 2
    assert "no valid reply" in str(result.error)
    assert s.namespace["before"] == 1 and "after" not in s.namespace and "x" not in s.namespace
    assert len(lm.log()) == 2  # one retry


def test_raise_errors_surfaces_genuine_bugs(lm, session):
    lm.rules(value_rule("load_rows()", [1, 2]))
    s = session(raise_errors=True)
    result = s.run("rows = load_rows()\ntotal = sum(rows) + '1'")
    assert isinstance(result.error, TypeError)
    assert s.namespace["rows"] == [1, 2]


def test_prompt_size_does_not_grow_with_unrelated_state(lm, session):
    lm.rules(value_rule("classify(3)", "odd"))
    s = session()
    s.run("x = classify(3)")
    small = len(lm.log()[-1]["messages"][-1]["content"])
    s2 = session()
    s2.run("\n".join(f"v{i} = {'list(range(500))'}" for i in range(200)))
    lm.reset()
    lm.rules(value_rule("classify(3)", "odd"))
    s2.run("x = classify(3)")
    big = len(lm.log()[-1]["messages"][-1]["content"])
    assert big == small


def test_statement_request_carries_only_referenced_state(lm, session):
    lm.rules(delta_rule("y = int(word)", {"y": 2}))
    s = session()
    s.run("unrelated = 'SECRET-ISH' * 10\nword = 'two'")
    s.run("y = int(word)")
    message = lm.user_messages()[-1]
    assert "word = 'two'" in message
    assert "SECRET-ISH" not in message


def test_overwrite_an_emulated_value_and_rerun_from_it(lm, session):
    lm.rules(value_rule("get_country('Lyon')", "Lyon"), value_rule("get_country('Rome')", "Italy"))
    s = session()
    s.run("calls = []")
    result = s.run(
        "calls.append('first')\ncities = ['Lyon', 'Rome']\n"
        "countries = [get_country(c) for c in cities]\nn = len(set(countries))\nn"
    )
    assert result.value == 2
    wrong = next(r for r in result.trace if r.target == "get_country('Lyon')")
    s.override(wrong, "Italy")  # a value that changes the answer
    again = s.rerun_from(wrong.line)
    assert s.namespace["countries"] == ["Italy", "Italy"]
    assert again.value == 1
    assert s.namespace["calls"] == ["first"]  # the statements before it did not run again
    assert len(lm.log()) == 2  # the re-run asked nothing new


def test_overwrite_a_delta_is_checked(lm, session):
    import pytest

    lm.rules(delta_rule("n = int('two')", {"n": 22}))
    s = session()
    result = s.run("n = int('two')\nm = n + 1")
    rec = result.emulated[0]
    from lmulator.errors import ReplyError

    with pytest.raises(ReplyError, match="names a builtin"):
        s.override(rec, {"print": 1})
    s.override(rec, {"n": 2})
    s.rerun_from(1)
    assert s.namespace["m"] == 3
