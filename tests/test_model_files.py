"""The embedded model's file: joined from its parts, every part and the whole checked."""

import hashlib
import os

import pytest

from lmulator.errors import ConfigError
from lmulator.lm.local.model_files import (
    MODELS,
    QWEN,
    ModelFileError,
    Part,
    join_parts,
    model_file,
    part_files,
    selected_model,
)


def make_parts(tmp_path, chunks):
    """Part files holding ``chunks``, with their pinned sizes and hashes."""
    parts = []
    for n, data in enumerate(chunks, start=1):
        path = tmp_path / f"part{n:02d}.bin"
        path.write_bytes(data)
        parts.append(
            (path, Part(f"pkg{n}", path.name, len(data), hashlib.sha256(data).hexdigest()))
        )
    whole = b"".join(chunks)
    return parts, len(whole), hashlib.sha256(whole).hexdigest()


CHUNKS = [os.urandom(3000), os.urandom(5000), os.urandom(1234)]


def test_parts_are_joined_checked_and_renamed_into_place(tmp_path):
    parts, size, digest = make_parts(tmp_path, CHUNKS)
    seen = []
    target = join_parts(
        parts, tmp_path / "out" / "m.gguf", size, digest, lambda d, t: seen.append(d)
    )
    assert target.read_bytes() == b"".join(CHUNKS)
    assert seen[-1] == size
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.gguf"]  # no partial left


@pytest.mark.parametrize(
    ("damage", "number"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-10]), 2),  # truncated
        (
            lambda p: p.write_bytes(
                p.read_bytes()[:100] + bytes([p.read_bytes()[100] ^ 1]) + p.read_bytes()[101:]
            ),
            3,
        ),  # one flipped bit
    ],
    ids=["truncated part", "flipped byte"],
)
def test_a_damaged_part_is_named_and_nothing_is_served(tmp_path, damage, number):
    parts, size, digest = make_parts(tmp_path, CHUNKS)
    damage(parts[number - 1][0])
    target = tmp_path / "out" / "m.gguf"
    with pytest.raises(ModelFileError) as err:
        join_parts(parts, target, size, digest)
    message = str(err.value)
    assert f"part {number} (" in message and "corrupt" in message and "\n" not in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_a_whole_that_does_not_match_is_refused(tmp_path):
    parts, size, _ = make_parts(tmp_path, CHUNKS)
    with pytest.raises(ModelFileError, match="not serving it"):
        join_parts(parts, tmp_path / "m.gguf", size, "0" * 64)
    assert not (tmp_path / "m.gguf").exists()


def test_a_missing_part_package_is_named(monkeypatch):
    from dataclasses import replace

    missing = replace(
        QWEN, parts=(*QWEN.parts[:4], replace(QWEN.parts[4], package="no_such_pkg_5"))
    )
    with pytest.raises(ModelFileError, match=r"part 5 of qwen2.5-coder-1.5b is not installed"):
        part_files(missing)


def test_the_model_is_chosen_by_name(monkeypatch):
    monkeypatch.setenv("LMULATOR_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    assert selected_model() is QWEN
    monkeypatch.setenv("LMULATOR_LOCAL_MODEL", "gpt-9")
    with pytest.raises(ConfigError, match="smollm2-135m"):
        selected_model()


def test_the_pinned_parts_add_up_to_the_publishers_file():
    assert sum(p.size for p in QWEN.parts) == QWEN.size == 1_117_320_768
    assert QWEN.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert set(MODELS) == {"qwen2.5-coder-1.5b", "smollm2-135m"}


def test_the_installed_default_model_is_the_checked_file(monkeypatch):
    monkeypatch.delenv("LMULATOR_GGUF", raising=False)
    path = model_file(QWEN)  # joined by setup.sh (or now), checked part by part
    assert path.stat().st_size == QWEN.size
