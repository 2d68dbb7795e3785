"""Run the notebooks under nbval in the coc kernel when nbval is installed (without it,
pytest still runs the rest of the suite)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Turn on nbval for the notebooks, in the coc kernel, with the project's sanitizers."""
    if not config.pluginmanager.hasplugin("nbval"):
        return
    option = config.option
    option.nbval = True
    if not getattr(option, "nbval_kernel_name", None):
        option.nbval_kernel_name = "coc"
    if not getattr(option, "nbval_sanitize_with", None):
        option.nbval_sanitize_with = str(config.rootpath / "notebooks" / "sanitize.cfg")
