"""Secrets by name and value, and texts with them taken out."""

import pytest

from lmulator.scrub import REDACTED, Scrubber, is_secret_name, secret_values

KEY = "sk-proj-abcdefghijklmnop"


@pytest.mark.parametrize(
    ("name", "secret"),
    [("OPENAI_API_KEY", True), ("github_token", True), ("DB_PASSWORD", True),
     ("AWS_SECRET_ACCESS_KEY", True), ("GOOGLE_APPLICATION_CREDENTIALS", True),
     ("SESSION_COOKIE", True), ("PATH", False), ("HOME", False), ("LMULATOR_MODEL", False)],
)  # fmt: skip
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def test_secret_values_are_long_values_of_secret_names_and_the_key():
    env = {"GITHUB_TOKEN": "ghp_0123456789", "SHORT_KEY": "abc", "PATH": "/usr/local/bin:/bin",
           "EMPTY_SECRET": "        "}  # fmt: skip
    assert secret_values(env, KEY, None) == {"ghp_0123456789", KEY}


def test_every_occurrence_is_redacted_longest_first():
    scrub = Scrubber([KEY, KEY[:12]])
    text = scrub(f"a {KEY} b {KEY} c {KEY[:12]} d")
    assert text == f"a {REDACTED} b {REDACTED} c {REDACTED} d"


@pytest.mark.parametrize(
    ("text", "kept"),
    [(f"error: Bearer {KEY[:9]}", "error: Bearer "), (f"{KEY[-7:]} was the end", " was the end"),
     (f"ends with {KEY[:5]}", f"ends with {KEY[:5]}")],  # five characters tell nothing
)  # fmt: skip
def test_a_secret_cut_off_at_an_edge_is_redacted(text, kept):
    scrubbed = Scrubber([KEY])(text)
    assert kept in scrubbed
    assert (REDACTED in scrubbed) is (kept != text)


def test_text_without_secrets_is_unchanged():
    text = '{"value": "the sky is blue"}'
    assert Scrubber([KEY])(text) == text and Scrubber([])(text) == text
