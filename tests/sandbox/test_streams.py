"""The broker's streamed replies: complete lines only, scrubbed, and stopped once cancelled."""

import pytest

from lmulator.errors import EmulationError
from lmulator.sandbox.streams import KEPT_CANCELLED, Streams


def make() -> tuple[Streams, list[dict]]:
    posted: list[dict] = []
    return Streams(posted.append, lambda t: t.replace("sk-SECRET", "[secret]")), posted


def test_only_complete_lines_go_out_each_once():
    streams, posted = make()
    sink = streams.sink(3)
    for text in ["x = ", "x = 1\n", "x = 1\ny", "x = 1\ny = 2", "x = 1\ny = 2\n"]:
        sink(text)
    assert posted == [
        {"op": "chunk", "id": 3, "text": "x = 1\n"},
        {"op": "chunk", "id": 3, "text": "x = 1\ny = 2\n"},
    ]


def test_a_secret_split_across_pieces_goes_out_scrubbed_once_its_line_is_whole():
    streams, posted = make()
    sink = streams.sink(1)
    sink("key = 'sk-SEC")  # half a secret: not sent at all
    assert posted == []
    sink("key = 'sk-SECRET'\n")
    assert posted[-1]["text"] == "key = '[secret]'\n"


def test_a_cancelled_request_stops_at_its_next_text_and_others_go_on():
    streams, posted = make()
    first, second = streams.sink(1), streams.sink(2)
    streams.cancel(1)
    with pytest.raises(EmulationError, match="stopped waiting"):
        first("a\n")
    second("b\n")
    assert posted == [{"op": "chunk", "id": 2, "text": "b\n"}]


@pytest.mark.parametrize("rid", [None, True, {"x": 1}, "y" * 65])
def test_a_malformed_cancel_is_ignored(rid):
    streams, _ = make()
    streams.cancel(rid)
    streams.sink(None)("line\n")  # nothing was cancelled (the broker sinks checked ids)


def test_cancelled_ids_are_bounded():
    streams, posted = make()
    for rid in range(KEPT_CANCELLED * 3):
        streams.cancel(rid)
    streams.sink(0)("kept going\n")  # long forgotten: not stopped
    assert posted and len(streams._cancelled) == KEPT_CANCELLED
