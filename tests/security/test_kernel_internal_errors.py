"""Internal errors in a real kernel (issue #21, family 7): each gives one clear error line, and
the kernel and its namespace live on."""

import json

import pytest

from lmulator.testing import delta_rule

from ..kernel.helpers import Kernel


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("internal")
    (root / "work").mkdir()
    (root / "outside").mkdir()
    return root


@pytest.fixture(scope="module")
def kernel(_server_process, workspace):
    kernel = Kernel(
        env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"},
        cwd=str(workspace / "work"),
    )
    yield kernel
    kernel.close()


@pytest.fixture(scope="module")
def trusted_kernel(_server_process, workspace):
    """A boxed kernel under the trusted policy (a new ZMQ thread once aborted a boxed kernel, on
    any RecursionError too: the seccomp filter refused pthread_getschedparam's sched_getparam)."""
    kernel = Kernel(
        env={"OPENAI_BASE_URL": _server_process.base_url, "LMULATOR_CACHE": "off"},
        cwd=str(workspace / "work"),
    )
    assert kernel.run("%policy trusted").status == "ok"
    assert kernel.run("%mode python").status == "ok"
    yield kernel
    kernel.close()


def _alive_with(kernel, name="kept", value="[1, 2, 3]"):
    after = kernel.run(name)
    return after.status == "ok" and after.result == value


def _one_line(ex):
    (error,) = ex.of("error")
    return error["ename"], error["evalue"]


@pytest.mark.parametrize(
    "recursion",
    [
        "class R:\n    def __init__(self, d):\n        self.d = d\n"
        "    def __repr__(self):\n        return 'x' if self.d == 0 else repr(R(self.d - 1))\n"
        "r = repr(R(10**6))",
        "def f(d):\n    return 0 if d == 0 else sorted([d - 1], key=f)[0]\nr = f(10**6)",
    ],
)
def test_a_raised_recursion_limit_ends_in_recursion_error(trusted_kernel, recursion):
    kernel = trusted_kernel
    kernel.run("kept = [1, 2, 3]")
    ex = kernel.run("import sys\nsys.setrecursionlimit(10**6)\n" + recursion, timeout=180)
    assert ex.status == "error" and _one_line(ex)[0] == "RecursionError", ex.of("error")
    assert _alive_with(kernel)
    assert kernel.run("import sys\nsys.getrecursionlimit() < 10**6").result == "True"


def test_a_new_thread_asking_its_own_scheduling_lives_in_the_box(trusted_kernel):
    kernel = trusted_kernel
    kernel.run("kept = [1, 2, 3]")
    ex = kernel.run(
        "import os, threading, zmq\nsock = zmq.Context().socket(zmq.PUSH)\nsock.close()\n"
        "seen = []\nt = threading.Thread(target=lambda: seen.append(\n"
        "    os.sched_getscheduler(threading.get_native_id())))\nt.start()\nt.join()\nseen",
        timeout=60,
    )
    assert ex.status == "ok" and ex.result == "[0]", ex.of("error")
    assert _alive_with(kernel)


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",  # json.dumps writes it as an escape in the reply's JSON
        {"$py": "'\\udfff'"},  # an escape in a $py literal
    ],
)
def test_a_reply_with_a_lone_surrogate_gives_one_error_line(kernel, lm, value):
    kernel.run("%mode interweave")
    try:
        kernel.run("kept = [1, 2, 3]\nw = 'one'")
        reply = json.dumps({"delta": {"n": value}})
        lm.rules(
            {"match": ["Statement request", "`n = int(w)`"], "content": reply},
            {"match": ["That reply was invalid"], "content": reply},
        )
        ex = kernel.run("n = int(w)")
        assert ex.status == "error", [m["content"] for m in ex.messages][-3:]
        ename, evalue = _one_line(ex)
        assert ename == "EmulationError" and "not valid Unicode" in evalue, evalue
        assert _alive_with(kernel) and kernel.run("'n' in dir()").result == "False"
    finally:
        kernel.run("%mode python")


def _error_lines(ex):
    """What a failed cell said: its error line(s) and stderr, as lines."""
    text = [e["evalue"] for e in ex.of("error")]
    text += [c["text"] for c in ex.of("stream") if c["name"] == "stderr"]
    return [line for line in "\n".join(text).splitlines() if line.strip()]


def test_replay_files_that_point_outside_give_one_line_naming_the_file(kernel, lm, workspace):
    secret = workspace / "outside" / "secret.jsonl"
    secret.write_text(json.dumps({"key": "k", "reply": "{}"}) + "\n")
    (workspace / "work" / "linked.lmreplay.jsonl").symlink_to(secret)
    (workspace / "work" / "written.lmreplay.jsonl").symlink_to(workspace / "outside" / "new.jsonl")
    kernel.run("kept = [1, 2, 3]")
    # restricted: the link leads out of the notebook's directory, refused before it is opened
    ex = kernel.run("%lm record=replay replay_file=linked.lmreplay.jsonl")
    assert ex.status == "error" and len(_error_lines(ex)) == 1, _error_lines(ex)
    assert "notebook's directory" in _error_lines(ex)[0] and _alive_with(kernel)
    kernel.run("%policy trusted")
    try:
        ex = kernel.run("%lm record=replay replay_file=linked.lmreplay.jsonl")
        assert ex.status == "error" and len(_error_lines(ex)) == 1, _error_lines(ex)
        (line,) = _error_lines(ex)
        assert "cannot read it: Permission denied" in line, line
        assert "linked.lmreplay.jsonl" in line or "secret.jsonl" in line  # the link or its target
        assert _alive_with(kernel)

        lm.rules(delta_rule("n = int(w)", {"n": 1}))
        ex = kernel.run("%lm record=record replay_file=written.lmreplay.jsonl")
        assert ex.status == "ok", _error_lines(ex)
        kernel.run("%mode interweave")
        ex = kernel.run("w = 'one'\nn = int(w)")
        assert ex.status == "error"
        ename, evalue = _one_line(ex)
        assert ename == "EmulationError" and "cannot write the replay file" in evalue, evalue
        assert "written.lmreplay.jsonl" in evalue or "new.jsonl" in evalue
        assert not (workspace / "outside" / "new.jsonl").exists() and _alive_with(kernel)
    finally:
        kernel.run("%mode python")
        kernel.run("%lm record=off")
        kernel.run("%policy restricted")
