"""The embedded model's server is started isolated (``python -I``, a scrubbed environment):
it never sees the key, nor imports a file from the current directory or ``PYTHONPATH``."""

import subprocess
import sys

import pytest

from lmulator.lm.local import model
from lmulator.lm.local.serve import server_environment

KEY = "sk-never-in-the-server-0123"


class Started(Exception):
    """Raised by the stand-in for Popen, with what the server would have been started with."""


def test_the_servers_environment_holds_no_secret():
    env = server_environment(
        {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C", "TMPDIR": "/t",
         "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://x", "GITHUB_TOKEN": "ghp_x",
         "API_KEY": "k", "PYTHONPATH": "/evil", "PYTHONSTARTUP": "/evil.py", "LD_PRELOAD": "/e.so",
         "GGML_CUDA_NO_PINNED": "1", "LLAMA_ARG_THREADS": "2", "LLAMA_API_KEY": "k",
         "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "0", "LMULATOR_CACHE": "auto"}
    )  # fmt: skip
    assert env == {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C",
                   "TMPDIR": "/t", "GGML_CUDA_NO_PINNED": "1", "LLAMA_ARG_THREADS": "2",
                   "OMP_NUM_THREADS": "2", "CUDA_VISIBLE_DEVICES": "0"}  # fmt: skip


def start_command(monkeypatch, tmp_path):
    """What start_server would run (argv and keyword arguments), without running it."""
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setenv("LMULATOR_GGUF", str(gguf))
    monkeypatch.setenv("LMULATOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)

    def popen(argv, **kwargs):
        raise Started(argv, kwargs)

    with monkeypatch.context() as patched, pytest.raises(Started) as started:
        patched.setattr(model.subprocess, "Popen", popen)
        model.start_server()
    return started.value.args


def test_the_server_starts_isolated_without_the_key(monkeypatch, tmp_path):
    argv, kwargs = start_command(monkeypatch, tmp_path)
    assert argv[:4] == [sys.executable, "-I", "-m", "lmulator.lm.local.serve"]
    assert KEY not in repr(kwargs["env"]) and "OPENAI_API_KEY" not in kwargs["env"]
    assert kwargs["cwd"] == "/"


def test_files_in_the_current_directory_or_pythonpath_are_not_imported(monkeypatch, tmp_path):
    argv, kwargs = start_command(monkeypatch, tmp_path)
    planted = tmp_path / "planted"
    planted.mkdir()
    marker = tmp_path / "imported"
    for name in ("argparse", "socket", "threading", "lmulator"):  # what serve imports first
        (planted / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    env = {**kwargs["env"], "PYTHONPATH": str(planted), "PYTHONSTARTUP": str(planted / "x.py")}
    done = subprocess.run([*argv[:4], "--help"], cwd=planted, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and "--prompt-cache" in done.stdout
    assert not marker.exists()
