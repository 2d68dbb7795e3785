"""Trace records and the marked listing."""

import json

from lmulator.engine.trace import TraceRecord, listing, short_repr


def test_listing_flags_emulated_and_failed_lines():
    src = "a = 1\nb = f(a)\nc = g(b)\n"
    records = [
        TraceRecord(2, "b = f(a)", "emulated", value=5, has_value=True, target="f(1)"),
        TraceRecord(3, "c = g(b)", "error", error="no reply"),
    ]
    lines = listing(src, records).splitlines()
    assert lines[0].startswith("  1 │ a = 1")
    assert lines[1].startswith("~ 2 │ b = f(a)") and "f(1) → 5" in lines[1]
    assert lines[2].startswith("! 3 │") and "error: no reply" in lines[2]


def test_records_serialize_to_json():
    rec = TraceRecord(
        4,
        "n += int(w)",
        "emulated",
        delta={"n": 3, "s": {1, 2}},
        masked_error="ValueError: x",
        ms=1.23,
    )
    data = rec.to_dict()
    assert data["delta"]["n"] == 3
    assert data["delta"]["s"] == {"$repr": "{1, 2}"}
    assert data["masked_error"] == "ValueError: x" and data["ms"] == 1.2
    json.dumps(data)


def test_short_repr_caps_and_never_raises():
    class Bad:
        def __repr__(self):
            raise RuntimeError

    assert short_repr("x" * 500).endswith("...") and len(short_repr("x" * 500)) == 200
    assert "repr failed" in short_repr(Bad())


def test_a_long_note_wraps_under_its_line_and_nothing_is_cut():
    src = "countries = [get_country(c) for c in cities]\n"
    value = "The United Kingdom of Great Britain and Northern Ireland"
    records = [
        TraceRecord(
            1, src.strip(), "emulated", value=value, has_value=True, target="get_country('London')"
        ),
    ]
    lines = listing(src, records, width=60).splitlines()
    assert lines[0] == "~ 1 │ countries = [get_country(c) for c in cities]"  # the code, whole
    assert len(lines) > 2 and all(len(line) <= 60 for line in lines[1:])
    assert lines[1].lstrip().startswith("⇐ get_country('London') →")
    assert " ".join(line.strip() for line in lines[1:]).endswith(repr(value))
    assert "…" not in "\n".join(lines)
    assert listing(src, records, width=500).count("\n") == 0  # fits: stays beside the line
