"""Whatever an isolated child sends, the parent decodes it without failing and acts on nothing
that is not well-formed (property tests over arbitrary JSON values and raw bytes)."""

import os
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from lmulator.engine.session import RunResult
from lmulator.engine.trace import TraceRecord
from lmulator.errors import CellTimeout, EmulationError
from lmulator.isolation.messages import ChildError, decode_error, decode_record, valid_lm_request
from lmulator.isolation.session import IsolatedSession
from lmulator.kinds import HOWS, STATUSES
from lmulator.sandbox.broker import ROLES
from lmulator.wire import Channel

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    ["op", "seq", "value", "has_value", "trace", "error", "lm_names", "type", "message", "line",
     "text", "messages", "schema", "name", "role", "content", "exit_value", "status", "delta"]
)  # fmt: skip
messages = st.dictionaries(fields, json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_done_messages_decode_into_a_result_or_are_ignored(msg):
    result = RunResult("x", "<cell>")
    IsolatedSession._finish(_Holder(), result, msg)  # never raises
    # a value only from a string, shown as that string (None stays None when the child says so)
    shown = msg.get("has_value") is True and isinstance(msg.get("value"), str)
    assert result.has_value is shown
    if shown and msg.get("value_is_none") is not True:
        assert repr(result.value) == msg["value"]
    # one record per object in the trace, each with fields of the right type
    trace = msg.get("trace")
    assert len(result.trace) == (
        sum(isinstance(r, dict) for r in trace) if isinstance(trace, list) else 0
    )
    for record in result.trace:
        assert isinstance(record, TraceRecord) and type(record.line) is int
        assert record.status in STATUSES and (record.how is None or record.how in HOWS)
        assert isinstance(record.ms, float) and abs(record.ms) < 1e12
    # an error only from an object, and only of a kind the parent knows or a ChildError
    if isinstance(msg.get("error"), dict):
        assert isinstance(result.error, (ChildError, MemoryError, KeyboardInterrupt, CellTimeout,
                                         EmulationError))  # fmt: skip
    else:
        assert result.error is None


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_records_and_errors_decode_only_from_objects(data):
    record, error = decode_record(data), decode_error(data)
    assert (record is None) is (error is None) is (not isinstance(data, dict))
    if isinstance(data, dict):
        assert isinstance(error, BaseException) and len(str(error)) <= 10_100
        name = data.get("type")
        if name not in ("MemoryError", "KeyboardInterrupt", "CellTimeout", "EmulationError"):
            assert isinstance(error, ChildError)  # never an exception class the child names


@settings(max_examples=300, deadline=None)
@given(messages)
def test_lm_requests_are_valid_exactly_when_well_formed(msg):
    chat = msg.get("messages")
    well_formed = (
        isinstance(chat, list)
        and 0 < len(chat) <= 64
        and all(
            isinstance(m, dict) and set(m) <= {"role", "content"} and m.get("role") in ROLES
            and isinstance(m.get("content"), str)
            for m in chat
        )
        and isinstance(msg.get("schema"), dict)
        and isinstance(msg.get("name"), str)
        and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", msg["name"]) is not None
    )  # fmt: skip
    assert valid_lm_request(msg) is well_formed


@given(
    st.lists(
        st.fixed_dictionaries({"role": st.sampled_from(sorted(ROLES)), "content": st.text()}),
        min_size=1,
        max_size=5,
    ),
    st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
)
def test_well_formed_lm_requests_are_valid(chat, name):
    assert valid_lm_request({"messages": chat, "schema": {}, "name": name}) is True
    assert valid_lm_request({"messages": chat, "schema": {}, "name": name + "/"}) is False


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=6))
def test_raw_bytes_never_break_the_channel(chunks):
    r, w = os.pipe()
    try:
        channel = Channel(r, w)
        for chunk in chunks:
            os.write(w, chunk)
        os.write(w, b'\n{"op": "end"}\n')
        while (msg := channel.recv(timeout=1)) is not None:
            assert isinstance(msg, dict) and isinstance(msg["op"], str)
            if msg == {"op": "end"}:
                break
        else:
            raise AssertionError("the closing message was lost")
    finally:
        os.close(r)
        os.close(w)


class _Holder:
    """Stands in for the session in ``_finish``: it only keeps ``lm_names``."""

    lm_names: dict[str, str] = {}
