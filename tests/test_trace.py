"""Trace records and the marked listing."""

import json

from lmulator.trace import TraceRecord, listing, short_repr


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
