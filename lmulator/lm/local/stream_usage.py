"""The embedded server reports a streamed reply's usage, as OpenAI's API does for a request
with ``stream_options.include_usage``: a last chunk with no choices and the prompt and
completion token counts (llama-cpp-python's server sends none, so a cell that streamed its
program could not say what its prompt cost).

:func:`install` wraps two functions of llama-cpp-python, in the server process only: the
completion generator (which learns the prompt's token count and counts the tokens it yields)
and the conversion of its chunks to chat chunks (which passes the count on).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

_INSTALLED = False


def _counted(chunks: Iterator[dict[str, Any]], prompt_tokens: int) -> Iterator[dict[str, Any]]:
    """The completion chunks, the last one (with a finish reason) carrying the usage."""
    completion_tokens = 0
    for chunk in chunks:
        choices = chunk.get("choices") or [{}]
        if choices[0].get("finish_reason") is None:
            completion_tokens += 1 if choices[0].get("text") else 0
        else:
            chunk = {**chunk, "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }}  # fmt: skip
        yield chunk


def _with_usage_chunk(convert: Any, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The chat chunks ``convert`` makes of ``chunks``, then one with the usage (if any)."""
    seen: dict[str, Any] = {}

    def watched() -> Iterator[dict[str, Any]]:
        for chunk in chunks:
            if "usage" in chunk:
                seen.update(usage=chunk["usage"], id=chunk.get("id", ""),
                            model=chunk.get("model", ""), created=chunk.get("created", 0))  # fmt: skip
            yield chunk

    yield from convert(watched())
    if "usage" in seen:
        yield {
            "id": "chat" + str(seen["id"]),
            "object": "chat.completion.chunk",
            "created": seen["created"],
            "model": seen["model"],
            "choices": [],
            "usage": seen["usage"],
        }


def install() -> None:
    """Make the server's streamed chat replies end with their usage (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from llama_cpp import llama, llama_chat_format

    create = llama.Llama._create_completion

    @functools.wraps(create)
    def create_completion(self: Any, prompt: Any, *args: Any, **kwargs: Any) -> Any:
        chunks: Any = create(self, prompt, *args, **kwargs)
        if not kwargs.get("stream"):
            return chunks
        if isinstance(prompt, str):
            prompt_tokens = len(self.tokenize(prompt.encode("utf-8"), special=True))
        else:
            prompt_tokens = len(prompt)
        return _counted(chunks, prompt_tokens)

    convert = llama_chat_format._convert_text_completion_chunks_to_chat

    @functools.wraps(convert)
    def convert_chunks(chunks: Any) -> Any:
        return _with_usage_chunk(convert, chunks)

    llama.Llama._create_completion = create_completion  # type: ignore[method-assign]
    llama_chat_format._convert_text_completion_chunks_to_chat = convert_chunks  # type: ignore[assignment]
    _INSTALLED = True
