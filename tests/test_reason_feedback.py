"""The method for a small model, against the scripted LM: answers checked against the task's
form, a program with a problem sent back once with it, an option's text read as its letter, and
several sampled programs voting."""

import json

import pytest

from lmulator.bench.bbh import run as run_bbh
from lmulator.forms import AnswerForm, majority, options_of
from lmulator.reason import reason
from lmulator.testing import delta_rule, value_rule

MOVIES = "Find a movie similar to Toy Story, Aladdin:\nOptions:\n(A) Gandhi\n(B) The Lion King"
LETTERS = AnswerForm("letter")


def program(code: str) -> str:
    return f"```python\n{code}\n```"


def feedback_requests(lm):
    return [r for r in lm.log() if "Write the whole program again" in json.dumps(r["messages"])]


def test_a_program_that_raised_is_sent_back_with_its_error(lm, session):
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = '(B)'")},
        {"match": ["Question: Find a movie"], "content": program("answer = 1 / 0")},
    )
    result = reason(MOVIES, session(raise_errors=True), [], form=LETTERS)
    assert result.answer == "(B)" and result.first_answer is None
    [problem] = result.feedback
    assert problem.startswith("Running it raised ZeroDivisionError at line 1: division by zero")
    [again] = feedback_requests(lm)
    sent = again["messages"]
    assert sent[-2] == {"role": "assistant", "content": program("answer = 1 / 0")}
    assert sent[-1]["content"].startswith(problem)
    assert sent[-3]["content"] == f"Question: {MOVIES}"  # the conversation so far, then the error


def test_no_answer_and_an_answer_outside_the_form_are_sent_back(lm, session):
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = '(A)'")},
        {"match": ["Question: Find a movie"], "content": program("choice = 'Up'")},
    )
    result = reason(MOVIES, session(), [], form=LETTERS)
    assert result.feedback == ["It set no answer (answer was None or never assigned)"]
    assert result.answer == "(A)"

    lm.reset()
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = 'B'")},
        {"match": ["Question: Find a movie"], "content": program("answer = 'Cars'")},
    )
    result = reason(MOVIES, session(), [], form=LETTERS)
    assert result.feedback == [
        "Its answer was 'Cars', but the answer must be one option letter in parentheses: (A), (B)"
    ]
    assert result.first_answer == "Cars" and result.answer == "(B)"  # B is written (B)


def test_it_asks_once_more_only(lm, session):
    lm.rules({"match": [], "content": program("answer = 'Cars'")})
    result = reason(MOVIES, session(), [], form=LETTERS)
    assert len(result.feedback) == 1 and len(lm.log()) == 2
    assert result.answer is None  # still outside the form: no answer
    lm.reset()
    lm.rules({"match": [], "content": program("answer = 'Cars'")})
    assert reason(MOVIES, session(), [], form=LETTERS, retries=0).feedback == []
    assert len(lm.log()) == 1


def test_an_answer_that_is_an_options_text_is_its_letter_without_asking_again(lm, session):
    lm.rules({"match": ["Question: Find a movie"], "content": program("answer = 'The Lion King'")})
    result = reason(MOVIES, session(), [], form=LETTERS)
    assert result.answer == "(B)" and result.feedback == []
    assert len(lm.log()) == 1


def test_a_guess_past_a_genuine_error_is_sent_back_only_when_strict(lm, session):
    code = "options = {'A': 'Gandhi'}\nanswer = options['B']"
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = '(B)'")},
        {"match": ["Question: Find a movie"], "content": program(code)},
        delta_rule("answer = options['B']", {"answer": "(A)"}),
    )
    loose = reason(MOVIES, session(), [], form=LETTERS)
    assert loose.answer == "(A)" and loose.feedback == []  # the LM stood in; in form: kept
    strict = reason(MOVIES, session(), [], form=LETTERS, strict=True)
    assert strict.answer == "(B)"
    assert strict.feedback == [
        "Running it raised an error, so its answer is a guess (line 2: KeyError: 'B')"
    ]


def test_a_worse_second_program_does_not_replace_the_first(lm, session):
    """Sent back for a guess past an error, the new program answers nothing: the first stays."""
    code = "options = {'A': 'Gandhi'}\nanswer = options['B']"
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = None")},
        {"match": ["Question: Find a movie"], "content": program(code)},
        delta_rule("answer = options['B']", {"answer": "(A)"}),
    )
    s = session()
    result = reason(MOVIES, s, [], form=LETTERS, strict=True)
    assert len(result.feedback) == 1 and len(feedback_requests(lm)) == 1
    assert result.answer == "(A)" and result.program == code + "\n"
    assert s.namespace["answer"] == "(A)" and s.namespace["coc_program"] == code + "\n"


@pytest.mark.parametrize(
    ("answers", "question", "given", "fitted"),
    [
        (["(A)", "(C)"], MOVIES, "the lion king", "(B)"),
        (["(A)", "(C)"], MOVIES, "(A)", "(A)"),
        (["(A)", "(C)"], MOVIES, "(C)", None),  # no such option here
        (["(A)", "(C)"], MOVIES, "(B) The Lion King.", "(B)"),  # a letter with its option's text
        (["(A)", "(C)"], MOVIES, "(A) The Lion King", None),  # ... and not with another's
        (["Yes", "No"], "", True, "Yes"),
        (["yes", "no"], "", "No.", "no"),  # the task's own spelling
        (["valid", "invalid"], "", True, None),
        (["True", "False"], "", False, "False"),
        (["-1960", "31"], "", 7.0, "7"),
        (["-1960", "31"], "", "seven", None),
        ([") >", "}"], "", "]]>", "] ] >"),
        (["arapaho bacteria bela", "gloucester raytheon slurp"], "", ["fig", "kiwi"], "fig kiwi"),
        (["arapaho bacteria bela", "gloucester raytheon slurp"], "", "kiwi fig", None),
    ],
)
def test_answer_forms(answers, question, given, fitted):
    assert AnswerForm.of(answers).fit(given, question) == fitted


def test_form_rules_and_voting():
    assert AnswerForm.of(["new york", "red"]).kind == "free"  # two sorted words are no rule
    assert options_of(MOVIES) == {"A": "Gandhi", "B": "The Lion King"}
    assert majority(["(A)", None, "(B)", "(B)", "(A)", "(B)"]) == "(B)"
    assert majority(["(A)", "(B)"]) == "(A)"  # a tie: the first seen
    assert majority([None, ""]) is None


def test_samples_vote_at_a_temperature(lm, tmp_path, capsys):
    (tmp_path / "movies.json").write_text(
        json.dumps({"examples": [{"input": MOVIES, "target": "(B)"}]})
    )
    lm.rules(
        {
            "match": ["Question: Find a movie"],
            "replies": [
                {"content": program("answer = 'The Lion King'")},
                {"content": program("answer = '(A)'")},
                {"content": program("answer = pick(['Gandhi', 'The Lion King'])")},
            ],
        },
        value_rule("pick(['Gandhi', 'The Lion King'])", "The Lion King"),
    )
    accuracy = run_bbh(str(tmp_path), ["movies"], base_url=lm.base_url, samples=3)
    assert accuracy == {"coc": 1.0}  # (B), (A), (B): (B)
    programs = [r for r in lm.log() if "response_format" not in r]
    assert len(programs) == 3 and {r["temperature"] for r in programs} == {0.7}
    out = capsys.readouterr().out  # the first program said 'The Lion King': (B) in the form
    assert "coc first programs: 0.0% as given, 100.0% in the task's form" in out


def test_the_bench_sends_back_and_reports_what_the_first_programs_scored(lm, tmp_path, capsys):
    (tmp_path / "movies.json").write_text(
        json.dumps({"examples": [{"input": MOVIES, "target": "(B)"}]})
    )
    lm.rules(
        {"match": ["Write the whole program again"], "content": program("answer = '(B)'")},
        {"match": ["Question: Find a movie"], "content": program("answer = None")},
    )
    journal = tmp_path / "journal.jsonl"
    assert run_bbh(str(tmp_path), ["movies"], base_url=lm.base_url, journal=str(journal)) == {
        "coc": 1.0
    }
    [line] = journal.read_text().splitlines()
    assert json.loads(line)["retried"] == 1 and json.loads(line)["first"] == ""
    out = capsys.readouterr().out
    assert "coc first programs: 0.0% as given, 0.0% in the task's form; 1 examples sent a " in out
    assert "1 of them right in the end" in out
    lm.reset()
    lm.rules({"match": [], "content": program("answer = None")})
    assert run_bbh(str(tmp_path), ["movies"], base_url=lm.base_url, retries=0) == {"coc": 0.0}
    assert len(lm.log()) == 1
