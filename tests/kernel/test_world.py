"""A real coc kernel in its box: the world fails as in Python, masked bugs are named, and a
value from the LM is marked where it is shown."""

from pathlib import Path

import pytest

from lmulator.testing import delta_rule

from .helpers import Kernel

TRACE = "application/vnd.lmulator.trace+json"
WRITTEN = Path("/tmp/lmulator-kernel-outside-test.txt")  # outside the kernel's workspace
CELLS = {
    "read outside": "data = open('/etc/hostname').read()\nprint('read', data)",
    "missing file": "data = open('missing.txt').read()\nprint('read', data)",
    "url": "import urllib.request\npage = urllib.request.urlopen('http://example.com').read()[:50]",
    "write outside": f"f = open('{WRITTEN}', 'w')\nprint('wrote')",
}
RESTRICTED = {
    "read outside": "NameError",
    "missing file": "NameError",
    "url": "ImportRefused",
    "write outside": "NameError",
}
TRUSTED = {
    "read outside": ("PermissionError", "the sandbox refused this path"),
    "missing file": ("FileNotFoundError", None),
    "url": ("URLError", "the sandbox gives cells no network"),
    "write outside": ("PermissionError", "the sandbox refused this path"),
}
BUG = 'total = 4\nprint("adding")\n\ntotal = total + "3"\ntotal'
SUMMARY = (
    "masked TypeError at line 4: unsupported operand type(s) for +: 'int' and 'str'; "
    "%lm raise_errors=on to stop there"
)


@pytest.fixture(scope="module")
def _kernel(_server_process, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("workspace")
    env = {"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"}
    kernel = Kernel(env=env, cwd=str(workspace))
    yield kernel
    kernel.close()


@pytest.fixture
def kernel(_kernel, lm):
    for line in ("%mode interweave", "%policy restricted", "%lm emulate_io=off raise_errors=off"):
        assert _kernel.run(line).status == "ok"
    lm.reset()
    return _kernel


def stderr(ex) -> str:
    return "".join(c["text"] for c in ex.of("stream") if c["name"] == "stderr")


def error_text(ex) -> str:
    (error,) = ex.of("error")
    return "\n".join(error["traceback"])


@pytest.mark.parametrize("name", sorted(CELLS))
def test_by_default_the_world_raises_and_the_lm_is_never_asked(kernel, lm, name):
    ex = kernel.run(CELLS[name])
    assert ex.status == "error"
    assert ex.of("error")[0]["ename"] == RESTRICTED[name]
    if RESTRICTED[name] == "NameError":
        assert "restricted policy gives programs no open()" in error_text(ex)
    assert ex.stdout == "" and lm.log() == []


@pytest.mark.parametrize("name", sorted(CELLS))
def test_under_the_trusted_policy_the_box_refuses_and_says_what_it_allows(kernel, lm, name):
    WRITTEN.unlink(missing_ok=True)
    kernel.run("%policy trusted")
    ex = kernel.run(CELLS[name])
    ename, note = TRUSTED[name]
    assert ex.status == "error" and ex.of("error")[0]["ename"] == ename
    if note is not None:
        assert note in error_text(ex) and "%sandbox shows more" in error_text(ex)
    assert ex.stdout == "" and lm.log() == [] and not WRITTEN.exists()
    assert [d for d in ex.of("display_data") if TRACE in d["data"]] == []


def test_with_emulate_io_a_missing_file_is_invented_and_marked_apart(kernel, lm):
    lm.rules(delta_rule("data = open('missing.txt').read()", {"data": "made up"}))
    kernel.run("%policy trusted")
    assert kernel.run("%lm emulate_io=on").status == "ok"
    ex = kernel.run("data = open('missing.txt').read()\ndata")
    assert ex.status == "ok" and len(lm.log()) == 1
    (marks,) = [d for d in ex.of("display_data") if TRACE in d["data"]]
    assert marks["data"]["text/plain"].startswith("? 1 │ data = open('missing.txt')")
    assert "invented: the operation did not run" in " ".join(marks["data"]["text/plain"].split())
    assert 'class="lm-line lm-invented"' in marks["data"]["text/html"]
    assert [r["how"] for r in marks["data"][TRACE]["records"]] == ["invented"]
    (result,) = ex.of("execute_result")
    assert result["data"]["text/plain"].startswith("'made up'\n? invented: the operation did not")
    assert 'class="lm-out lm-out-invented"' in result["data"]["text/html"]
    assert "invented a result for FileNotFoundError at line 1" in stderr(ex)
    state = kernel.run("%state").of("display_data")[0]["data"]["text/plain"]
    assert "? LM, invented (invented at line 1)" in state


def test_a_masked_type_error_is_named_and_the_value_is_marked(kernel, lm):
    lm.rules(delta_rule('total = total + "3"', {"total": 7}))
    ex = kernel.run(BUG)
    assert ex.status == "ok" and ex.stdout == "adding\n"
    assert SUMMARY in stderr(ex).splitlines()
    (result,) = ex.of("execute_result")
    plain, page = result["data"]["text/plain"], result["data"]["text/html"]
    assert plain.splitlines() == [
        "7",
        "~ emulated: the LM supplied this value or one it was computed from",
    ]
    assert 'class="lm-out lm-out-emulated"' in page and "<pre" in page and ">7</pre>" in page
    state = kernel.run("%state").of("display_data")[0]["data"]["text/plain"]
    assert "~ LM (delta at line 4)" in next(
        line for line in state.splitlines() if line.startswith("total ")
    )
    derived = kernel.run("total * 2").of("execute_result")[0]["data"]["text/plain"]
    assert derived.splitlines()[-1].startswith("~ emulated")
    plain_again = kernel.run("n = 3\nn * 2")
    assert plain_again.result == "6" and stderr(plain_again) == ""


def test_raise_errors_on_stops_at_the_error(kernel, lm):
    lm.rules(delta_rule('total = total + "3"', {"total": 7}))
    assert kernel.run("%lm raise_errors=on").status == "ok"
    assert "raise_errors on: a genuine error stops the cell" in kernel.run("%lm").stdout
    ex = kernel.run(BUG)
    assert ex.status == "error" and ex.of("error")[0]["ename"] == "TypeError"
    assert "masked" not in stderr(ex) and lm.log() == []
    bad = kernel.run("%lm raise_errors=maybe")
    assert bad.status == "error" and "raise_errors must be on or off" in stderr(bad)


def test_the_environment_sets_raise_errors_for_the_kernel(_server_process, lm, tmp_path):
    env = {
        "OPENAI_BASE_URL": _server_process.base_url,
        "LMULATOR_CACHE": "off",
        "LMULATOR_RAISE_ERRORS": "on",
    }
    kernel = Kernel(env=env, cwd=str(tmp_path))
    try:
        ex = kernel.run(BUG)
        assert ex.status == "error" and ex.of("error")[0]["ename"] == "TypeError"
        assert lm.log() == []
    finally:
        kernel.close()
