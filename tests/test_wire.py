"""The JSON-lines channel: well-formed messages pass, anything else is dropped and counted."""

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
