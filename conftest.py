"""Run the notebooks under nbval in the coc kernel when nbval is installed (without it,
pytest still runs the rest of the suite)."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Let interrupts reach the tests, and turn on nbval for the notebooks, in the coc kernel,
    with the project's sanitizers."""
    # A shell without job control starts a command run with `&` (a CI script, `nohup ... &`)
    # with SIGINT ignored, and Python and every child it starts then keep ignoring it: a test
    # that interrupts a cell, a CLI or a kernel would wait on a loop that never hears it.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not config.pluginmanager.hasplugin("nbval"):
        return
    option = config.option
    option.nbval = True
    if not getattr(option, "nbval_kernel_name", None):
        option.nbval_kernel_name = "coc"
    if not getattr(option, "nbval_sanitize_with", None):
        option.nbval_sanitize_with = str(config.rootpath / "notebooks" / "sanitize.cfg")
