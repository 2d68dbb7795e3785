"""The JSON-lines channel: well-formed messages pass, anything else is dropped and counted."""

import json
import os

import pytest

from lmulator import wire
from lmulator.wire import Channel, ChannelClosed


@pytest.fixture
def pipe_pair():
    r, w = os.pipe()
    yield Channel(r, w), w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def test_messages_round_trip(pipe_pair):
    channel, _ = pipe_pair
    channel.send({"op": "run", "source": "x = 'é\\n'"})
    assert channel.recv(timeout=1) == {"op": "run", "source": "x = 'é\\n'"}
    assert channel.recv(timeout=0.05) is None


def test_garbage_is_dropped_and_counted(pipe_pair, monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    channel, w = pipe_pair
    os.write(w, b'not json\n[1, 2]\n{"no_op": 1}\n{"op": 3}\n\n')
    os.write(w, b'{"op": "x", "line": Infinity}\n{"op": "x", "v": NaN}\n')  # not JSON
    os.write(w, b"x" * 3000)  # an over-long line, dropped whole
    os.write(w, b'still the long line\n{"op": "ok"}\n')
    assert channel.recv(timeout=1) == {"op": "ok"}
    assert channel.dropped == 7


def test_end_of_file_is_reported(pipe_pair):
    channel, w = pipe_pair
    os.close(w)
    with pytest.raises(ChannelClosed):
        channel.recv(timeout=1)


def test_discard_pending_empties_buffer_and_pipe(pipe_pair):
    channel, w = pipe_pair
    os.write(w, b'{"op": "a"}\n{"op": "b"}\n{"op": "c"')
    assert channel.recv(timeout=1) == {"op": "a"}
    channel.discard_pending()
    os.write(w, b'\n{"op": "d"}\n')
    assert channel.recv(timeout=1) == {"op": "d"}


def test_deeply_nested_lines_are_dropped(pipe_pair):
    import threading

    channel, w = pipe_pair
    payload = b"[" * 200_000 + b'\n{"op": "after"}\n'
    writer = threading.Thread(target=os.write, args=(w, payload))
    writer.start()  # larger than a pipe holds: written while the channel reads
    try:
        assert channel.recv(timeout=5) == {"op": "after"}
    finally:
        writer.join()
    assert channel.dropped == 1


def test_a_strict_channel_refuses_to_send_what_the_reader_would_drop(pipe_pair, monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    channel, _ = pipe_pair
    channel.strict = True
    with pytest.raises(wire.MessageTooLong):
        channel.send({"op": "reply", "id": 1, "text": "A" * 2000})
    channel.send({"op": "reply", "id": 2, "text": "A" * 900})  # nothing of the first was sent
    assert channel.recv(timeout=1) == {"op": "reply", "id": 2, "text": "A" * 900}


@pytest.mark.parametrize("rid", [7, "r7"])
def test_a_strict_channel_reports_an_over_long_line_with_its_id(pipe_pair, monkeypatch, rid):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    channel, w = pipe_pair
    channel.strict = True
    os.write(w, b'{"op":"reply","id":%s,"text":"' % json.dumps(rid).encode() + b"A" * 3000)
    assert channel.recv(timeout=1) == {"op": wire.TOO_LONG, "id": rid}  # before the line ends
    os.write(w, b"A" * 3000)
    assert channel.recv(timeout=0.05) is None  # reported once
    os.write(w, b'"}\n{"op": "after"}\n')
    assert channel.recv(timeout=1) == {"op": "after"}
    assert channel.dropped == 1


def test_a_strict_channel_reports_an_over_long_line_read_whole(pipe_pair, monkeypatch):
    monkeypatch.setattr(wire, "MAX_MESSAGE_BYTES", 1000)
    channel, w = pipe_pair
    channel.strict = True
    os.write(w, b'{"op":"reply","id":3,"text":"' + b"A" * 3000 + b'"}\n')
    os.write(w, b'{"text":"' + b"A" * 3000 + b'","op":"reply","id":4}\n')  # id not at the start
    assert channel.recv(timeout=1) == {"op": wire.TOO_LONG, "id": 3}
    assert channel.recv(timeout=1) == {"op": wire.TOO_LONG, "id": None}
    assert channel.dropped == 2
