"""The embedded server's streamed replies end with their usage: the two wrapped steps, on the
chunks llama-cpp-python makes, and (where the model is installed) through the real server."""

from lmulator.lm.local.stream_usage import _counted, _with_usage_chunk


def text_chunk(text, finish=None):
    return {"id": "cmpl-1", "model": "m", "created": 5,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}  # fmt: skip


def test_the_last_completion_chunk_carries_the_counts():
    chunks = [text_chunk("an"), text_chunk("swer"), text_chunk(""), text_chunk("", "stop")]
    out = list(_counted(iter(chunks), prompt_tokens=120))
    assert [c.get("usage") for c in out[:-1]] == [None, None, None]
    assert out[-1]["usage"] == {"prompt_tokens": 120, "completion_tokens": 2, "total_tokens": 122}


def test_the_chat_chunks_end_with_one_usage_chunk_and_no_choices():
    def convert(chunks):  # as llama-cpp-python's: a chat chunk a text chunk, usage dropped
        for c in chunks:
            yield {"object": "chat.completion.chunk", "choices": [{"delta": {"content": c["choices"][0]["text"]}}]}  # fmt: skip

    chunks = _counted(iter([text_chunk("x = 1"), text_chunk("", "length")]), 9)
    out = list(_with_usage_chunk(convert, chunks))
    assert len(out) == 3 and out[-1]["choices"] == []
    assert out[-1]["usage"]["prompt_tokens"] == 9 and out[-1]["usage"]["completion_tokens"] == 1
    assert out[-1]["id"] == "chatcmpl-1" and out[-1]["object"] == "chat.completion.chunk"


def test_chunks_without_a_finish_get_no_usage_chunk():
    out = list(_with_usage_chunk(lambda cs: iter(list(cs)), iter([text_chunk("a")])))
    assert out == [text_chunk("a")]
