"""Failures from outside the program raise as in Python; the LM invents them only on request."""

import http.client
import urllib.error

import pytest

from lmulator.config import Config
from lmulator.engine.session import Session
from lmulator.engine.trace import listing
from lmulator.engine.world import INVENTED_NOTE, annotate, is_world_error
from lmulator.kinds import MODES
from lmulator.testing import FakeChatClient

MISSING = "/nonexistent-lmulator-dir/data.txt"
# Modes that run the program (lm mode runs nothing: every statement is the LM's).
RUNNING_MODES = [m for m in MODES if m != "lm"]


def fake() -> FakeChatClient:
    """A client that would answer anything about files, URLs and opens."""
    return FakeChatClient(
        values={"open": "made-up contents", "urlopen": "<html>", "read": "x", "data": "x"},
        deltas={"open": {"data": "made-up"}, "urlopen": {"page": "made-up"}, "data": {}},
    )


def session(client, **config) -> Session:
    policy = config.pop("policy", "trusted")
    return Session(Config(cache="off", **config), policy=policy, client=client)


def chained(outer: BaseException, inner: BaseException, how: str) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            if how == "cause":
                raise outer from exc
            if how == "none":
                raise outer from None
            raise outer  # noqa: B904 - the context is what is tested
    except BaseException as exc:
        return exc
    raise AssertionError("unreachable")


def test_the_rule_is_oserror_in_the_chain_or_a_world_library():
    assert is_world_error(FileNotFoundError(2, "missing"))
    assert is_world_error(urllib.error.URLError("no route"))
    assert is_world_error(http.client.IncompleteRead(b""))  # not an OSError: by its library
    assert is_world_error(chained(RuntimeError("wrapped"), OSError("disk"), "cause"))
    assert is_world_error(chained(ValueError("while handling"), TimeoutError(), "context"))
    assert is_world_error(NameError("name 'open' is not defined", name="open"))
    httpx_like = type("ConnectError", (Exception,), {"__module__": "httpx._exceptions"})
    assert is_world_error(httpx_like("refused"))
    assert not is_world_error(ValueError("bad"))
    assert not is_world_error(chained(ValueError("bad"), OSError("suppressed"), "none"))
    assert not is_world_error(ImportError("No module named 'numpy'"))
    assert not is_world_error(NameError("name 'helper' is not defined", name="helper"))
    assert not is_world_error(type("HTTPish", (Exception,), {"__module__": "httpxtra"})())


def test_a_cyclic_chain_ends():
    a, b = OSError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    assert is_world_error(b)


@pytest.mark.parametrize("mode", RUNNING_MODES)
def test_a_missing_file_raises_in_every_mode_and_the_lm_is_never_asked(mode):
    client = fake()
    result = session(client, mode=mode).run(f"data = open({MISSING!r}).read()\ndata")
    assert isinstance(result.error, FileNotFoundError)
    assert client.asked == []
    assert result.emulated == [] and result.masked == []


@pytest.mark.parametrize("mode", RUNNING_MODES)
def test_a_url_that_fails_raises(mode):
    client = fake()
    source = "import urllib.request\npage = urllib.request.urlopen('http://127.0.0.1:1', timeout=5)"
    result = session(client, mode=mode).run(source)
    assert isinstance(result.error, urllib.error.URLError)
    assert client.asked == []


def test_inside_a_function_and_through_a_chain_the_world_raises():
    client = fake()
    source = (
        "def load(path):\n"
        "    try:\n"
        "        return open(path).read()\n"
        "    except OSError as exc:\n"
        "        raise RuntimeError('cannot load') from exc\n"
        "def first_line(path):\n"
        "    text = load(path)\n"
        "    return text.splitlines()[0]\n"
        f"first_line({MISSING!r})\n"
    )
    result = session(client).run(source)
    assert isinstance(result.error, RuntimeError)
    assert isinstance(result.error.__cause__, FileNotFoundError)
    assert client.asked == []


@pytest.mark.parametrize("mode", RUNNING_MODES)
def test_the_restricted_policy_withholds_open_and_says_so(mode):
    client = fake()
    result = session(client, mode=mode, policy="restricted").run("open('/etc/hostname').read()")
    assert isinstance(result.error, NameError) and result.error.name == "open"
    assert "restricted policy gives programs no open()" in result.error.__notes__[0]
    assert client.asked == []


def test_a_program_may_handle_the_world_failing():
    client = fake()
    source = (
        f"try:\n    data = open({MISSING!r}).read()\nexcept OSError:\n    data = 'default'\ndata"
    )
    result = session(client).run(source)
    assert result.error is None and result.value == "default" and client.asked == []


def test_the_host_note_says_what_the_box_allows_once():
    seen = []

    def host_note(exc):
        seen.append(type(exc).__name__)
        return "the sandbox lets cells write only /ws" if isinstance(exc, PermissionError) else None

    exc = chained(urllib.error.URLError("refused"), PermissionError(13, "denied"), "context")
    annotate(exc, host_note)
    annotate(exc, host_note)
    assert exc.__notes__ == ["the sandbox lets cells write only /ws"]
    plain = ValueError("not the world")
    annotate(plain, host_note)
    assert not hasattr(plain, "__notes__")


def test_a_session_passes_its_cell_error_to_the_host_note():
    s = session(fake())
    s.world_note = lambda exc: "box note" if isinstance(exc, FileNotFoundError) else None
    result = s.run(f"open({MISSING!r})")
    assert result.error.__notes__ == ["box note"]


def test_missing_pieces_keep_their_stand_ins():
    s = Session.for_snippets(Config(cache="off", lm="off"))
    result = s.run("import not_installed_pkg\nrows = load_rows()\nn = len(rows)\nundefined_name")
    assert result.error is None
    assert {r.how for r in result.emulated} <= {"stand-in", "inferred", "skip"}


def test_missing_names_and_calls_are_still_emulated():
    client = FakeChatClient(values={"get_country('Paris')": "France"})
    result = session(client).run("get_country('Paris')")
    assert result.value == "France" and len(client.asked) == 1


@pytest.mark.parametrize("policy", ["trusted", "restricted"])
def test_with_emulate_io_the_world_is_invented_and_marked_apart(policy):
    client = fake()
    s = session(client, emulate_io=True, policy=policy)
    source = f"data = open({MISSING!r}).read()"
    result = s.run(source)
    assert result.error is None and s.namespace["data"] == "made-up"
    (record,) = result.emulated
    assert record.how == "invented" and record.to_dict()["how"] == "invented"
    assert result.masked[0].invented and result.masked[0].line == 1
    text = listing(source, result.trace)
    assert text.startswith("? 1 │") and INVENTED_NOTE in text
    assert s.lm_names == {"data": "invented at line 1"} and s.invented_names == {"data"}
    assert s.run("data.upper()").value_origin == "invented"


def test_emulate_io_with_raise_errors_still_invents_the_world_but_stops_at_bugs():
    client = fake()
    s = session(client, emulate_io=True, raise_errors=True)
    assert s.run(f"data = open({MISSING!r}).read()").error is None
    assert isinstance(s.run("total = 4 + '3'").error, TypeError)


@pytest.mark.parametrize("mode", ["try-python-except-lm", "try-python-except-lm-state"])
def test_try_python_modes_hand_no_refusal_to_the_lm(mode):
    client = fake()
    result = session(client, mode=mode, policy="restricted").run("x = 1\nimport os")
    assert type(result.error).__name__ == "ImportRefused" and client.asked == []


def test_a_partial_program_stops_at_the_world_unless_asked():
    source = "def fetch():\n    raise ConnectionError('no network')\nv = fetch()\nw = 2\n"
    for emulate_io, stops in ((False, True), (True, False)):
        s = Session.for_snippets(Config(cache="off", lm="off", emulate_io=emulate_io))
        result = s.run(source)
        assert isinstance(result.error, ConnectionError) is stops
        assert ("w" in s.namespace) is not stops


def test_the_coverage_bench_says_which_setting_it_uses(tmp_path, capsys):
    from lmulator.bench.__main__ import main

    (tmp_path / "a.py").write_text("ok = 1\n")
    assert main(["coverage", str(tmp_path), "--lm", "none"]) == 0
    assert "setting: emulate_io off (files, URLs and processes that fail raise" in (
        capsys.readouterr().out
    )
    assert main(["coverage", str(tmp_path), "--lm", "none", "--emulate-io"]) == 0
    assert "setting: emulate_io on" in capsys.readouterr().out
