"""The library's public face: what `import lmulator` gives, and what it does not pull in."""

import subprocess
import sys

import lmulator

JUPYTER = ("IPython", "ipykernel", "jupyter_client", "ipywidgets", "traitlets", "zmq", "cockernel")


def test_the_public_api_is_exported_from_the_package():
    for name in ("Session", "IsolatedSession", "Config", "Policy", "RunResult", "reason"):
        assert name in lmulator.__all__ and getattr(lmulator, name) is not None
    session = lmulator.Session(lmulator.Config(mode="python"), policy=lmulator.Policy("restricted"))
    assert session.run("sum(range(5))").value == 10


def test_importing_lmulator_imports_nothing_from_jupyter():
    code = (
        "import sys, lmulator, lmulator.cli, lmulator.isolation.session, lmulator.bench.bbh\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {JUPYTER!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
