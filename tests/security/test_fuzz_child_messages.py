"""Whatever an isolated child sends, the parent decodes it without failing and acts on nothing
that is not well-formed (property tests over arbitrary JSON values and raw bytes)."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from lmulator.engine.session import RunResult
from lmulator.engine.trace import TraceRecord
from lmulator.isolation.messages import decode_error, decode_record, valid_lm_request
from lmulator.isolation.session import IsolatedSession
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
    assert all(isinstance(r, TraceRecord) for r in result.trace)
    assert result.error is None or isinstance(result.error, BaseException)
    assert not result.has_value or isinstance(repr(result.value), str)
    decode_record(msg)
    decode_error(msg)
    assert valid_lm_request(msg) in (True, False)


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
