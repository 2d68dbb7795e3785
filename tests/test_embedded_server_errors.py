"""When the embedded model's server cannot start, the error says why (no model is run here)."""

import sys

import pytest

from lmulator.errors import EmulationError
from lmulator.lm.local import model


@pytest.fixture
def corrupt_gguf(tmp_path, monkeypatch):
    path = tmp_path / "damaged.gguf"
    path.write_bytes(b"\x00not a model" * 1000)
    monkeypatch.setenv("LMULATOR_GGUF", str(path))
    monkeypatch.setattr(model, "prompt_cache_dir", lambda: tmp_path / "prompt-cache")
    return path


def test_a_server_that_dies_is_reported_with_its_last_words_and_the_files_state(
    corrupt_gguf, monkeypatch
):
    script = (
        "import sys\n"
        "print('loading...', file=sys.stderr)\n"
        "for i in range(5000): print('noise', i, file=sys.stderr)\n"  # more than a pipe holds
        "print('ValueError: Failed to load model from file: ' + sys.argv[1], file=sys.stderr)\n"
        "sys.exit(1)\n"
    )
    monkeypatch.setattr(
        model, "server_command", lambda path: [sys.executable, "-c", script, str(path)]
    )
    with pytest.raises(EmulationError) as caught:
        model.start_server(timeout=20)
    message = str(caught.value)
    assert message.startswith("the embedded model server failed to start: ValueError: Failed to")
    assert str(corrupt_gguf) in message
    assert f"({corrupt_gguf} is not a GGUF file: it does not start with b'GGUF')" in message
    assert "\n" not in message


def test_a_server_that_says_nothing_is_reported_as_such(corrupt_gguf, monkeypatch):
    corrupt_gguf.write_bytes(b"GGUF\x03\x00\x00\x00")  # the right magic, then nothing
    monkeypatch.setattr(model, "server_command", lambda path: [sys.executable, "-c", "pass"])
    with pytest.raises(EmulationError, match=r"failed to start: it wrote nothing on stderr$"):
        model.start_server(timeout=20)


def test_the_real_server_on_a_corrupt_file_says_it_cannot_load_it(corrupt_gguf):
    pytest.importorskip("llama_cpp")
    with pytest.raises(EmulationError) as caught:
        model.start_server(timeout=60)
    message = str(caught.value)
    assert "Failed to load model from file" in message and "is not a GGUF file" in message
