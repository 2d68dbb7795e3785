"""The kernel's names under the restricted policy, without a kernel: the magics proxy, magic
arguments, display classes that take data only, the kernel's policy."""

import pytest

from cockernel.sandbox import (
    RestrictedIPython,
    check_magic_arguments,
    display_module,
    kernel_policy,
)
from lmulator.policy.refusals import PolicyError


class Shell:
    """Records what the proxy passes on."""

    def __init__(self):
        self.calls = []

    def run_line_magic(self, name, line, _stack_depth=1):
        self.calls.append((name, line))
        return "ran"


def test_the_proxy_runs_listed_magics_and_refuses_the_rest_and_shell_commands():
    shell = Shell()
    ip = RestrictedIPython(shell)
    assert ip.run_line_magic("mode", "python") == "ran" and shell.calls == [("mode", "python")]
    with pytest.raises(PolicyError, match="%run is not available"):
        ip.run_line_magic("run", "evil.py")
    with pytest.raises(PolicyError, match="shell commands"):
        ip.system("id")
    assert shell.calls == [("mode", "python")]


@pytest.mark.parametrize(
    "name, line",
    [
        ("pinfo", "os.__class__"),
        ("pinfo2", "x._secret"),
        ("psearch", "a.__globals__*"),
        ("history", "-f /etc/cron.d/job"),
    ],
)
def test_magic_arguments_that_reach_past_the_policy_are_refused(name, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError):
        check_magic_arguments(name, line)


def test_ordinary_magic_arguments_pass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_magic_arguments("pinfo", "math.log")
    check_magic_arguments("history", "-n 1-3")


def test_display_classes_take_data_not_files_and_the_policy_allows_widgets(tmp_path):
    html = display_module()["HTML"]
    assert "<b>x</b>" in html("<b>x</b>").data
    secret = tmp_path / "page.html"
    secret.write_text("<i>no</i>")
    with pytest.raises(PolicyError, match="takes data, not a file"):
        html(str(secret))
    policy = kernel_policy()
    assert policy.gate.is_allowed("ipywidgets") and policy.gate.is_allowed("IPython.display")
