"""An isolated session's child confines itself, from a plain Python caller too."""

from lmulator.config import Config
from lmulator.isolation.session import IsolatedSession
from lmulator.sandbox import SandboxSpec

from .helpers import run_python


def test_an_isolated_child_is_confined_even_under_the_trusted_policy():
    with IsolatedSession(Config(mode="python", cache="off"), policy="trusted") as s:
        assert s.confined
        result = s.run("open('/etc/hostname').read()")
        assert result.error.type_name == "PermissionError"
        assert s.run("import socket\nsocket.socket()").error is not None
        assert s.run("1 + 1").value.text == "2"


def test_an_isolated_child_with_the_sandbox_off_is_not_confined():
    with IsolatedSession(Config(mode="python"), policy="trusted",
                         sandbox=SandboxSpec(mode="off")) as s:  # fmt: skip
        assert not s.confined
        assert s.run("len(open('/etc/hostname').read()) >= 0").value.text == "True"


def test_a_required_sandbox_without_landlock_keeps_the_child_from_starting():
    proc = run_python(
        "from lmulator.config import Config\n"
        "from lmulator.isolation.session import IsolatedSession, IsolationError\n"
        "from lmulator.sandbox import SandboxSpec\n"
        "try:\n    IsolatedSession(Config(mode='python'), sandbox=SandboxSpec(required=True))\n"
        "except IsolationError as e:\n    print('refused:', e)",
        no_landlock=True,
    )
    assert "refused: the isolated process did not start: the sandbox is required" in proc.stdout
