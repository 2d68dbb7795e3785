"""LM clients: chat completions through the ``openai`` client, with a JSON schema per request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import EmulationError, ReplyError
from ..kinds import SCHEMA_STYLES
from .confidence import reply_confidence, tokens_from_logprobs


@dataclass(frozen=True)
class Completion:
    """A reply's text and how sure the LM was of it (None: the endpoint gave no log-probabilities;
    see :mod:`lmulator.lm.confidence`)."""

    text: str
    confidence: float | None = None


class ChatClient(Protocol):
    """Anything that turns chat messages and a reply schema into reply text."""

    @property
    def model(self) -> str:
        """The model name requests are sent for."""
        ...

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Return the text of the LM's reply."""
        ...

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Return the LM's free-text reply (no schema): a program, a chain of thought."""
        ...


def complete_scored(
    client: ChatClient, messages: list[dict[str, str]], schema: dict[str, Any], name: str
) -> Completion:
    """The client's reply with its confidence, where the client can give one (a client with no
    ``complete_scored`` gives its text with no confidence)."""
    scored = getattr(client, "complete_scored", None)
    if callable(scored):
        completion = scored(messages, schema, name)
        if isinstance(completion, Completion):
            return completion
    return Completion(client.complete(messages, schema, name))


@dataclass
class Usage:
    """What a client has spent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


# When set (a monotonic time), LM requests sent from this context are cut off then.
_DEADLINE: ContextVar[float | None] = ContextVar("lmulator_request_deadline", default=None)


@contextmanager
def requests_end_by(deadline: float | None) -> Iterator[None]:
    """Within the block, an LM request gets only the time left until ``deadline`` (a
    ``time.monotonic()`` value; None: the client's own timeout) and is not retried."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def response_format(style: str, schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The ``response_format`` argument for a schema in one of the two accepted forms."""
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


def _rejects_schema_form(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(w in text for w in ("response_format", "json_schema", "json_object"))


class OpenAIChatClient:
    """A chat client for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp).

    It never follows a redirect: a 3xx answer is an error, so the key and the prompts go to
    ``base_url`` and nowhere else."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        temperature: float = 0.0,
        schema_style: str = "auto",
        timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens: int | None = 512,
    ) -> None:
        import openai  # deferred: importing it costs ~0.3 s

        if schema_style not in SCHEMA_STYLES:
            raise ValueError(f"unknown schema style {schema_style!r}")
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "unset",
            timeout=timeout,
            max_retries=max_retries,
            http_client=openai.DefaultHttpxClient(follow_redirects=False),
        )
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.schema_style = schema_style
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.usage = Usage()
        self.logprobs = True  # asked for until the endpoint refuses them

    def __repr__(self) -> str:
        return f"OpenAIChatClient(base_url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        """Close the HTTP connections this client holds."""
        self._client.close()

    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], name: str) -> str:
        """Send one chat completion request and return the reply text."""
        return self.complete_scored(messages, schema, name).text

    def complete_scored(
        self, messages: list[dict[str, str]], schema: dict[str, Any], name: str
    ) -> Completion:
        """Send one chat completion request; return the reply and its confidence."""
        if self.schema_style != "auto":
            return self._guarded_create(messages, schema, name, self.schema_style)
        # First request: probe the OpenAI form once, without retries, and settle the style.
        try:
            completion = self._create(messages, schema, name, "json_schema", probe=True)
        except self._openai.APIStatusError as exc:
            if not _rejects_schema_form(exc):
                raise self._describe(exc) from None
            self.schema_style = "json_object"
            return self._guarded_create(messages, schema, name, "json_object")
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None
        self.schema_style = "json_schema"
        return completion

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Send one chat completion request without a reply schema; return the text."""
        try:
            resp = self._timed(self._client).chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=self.temperature,
                max_tokens=max_tokens,
            )
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None
        self.usage.calls += 1
        if resp.usage is not None:
            self.usage.prompt_tokens += resp.usage.prompt_tokens or 0
            self.usage.completion_tokens += resp.usage.completion_tokens or 0
        if not resp.choices or resp.choices[0].message.content is None:
            raise EmulationError("the LM returned no text")
        return resp.choices[0].message.content

    def _guarded_create(self, messages: list, schema: dict, name: str, style: str) -> Completion:
        try:
            return self._create(messages, schema, name, style)
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None

    def _create(
        self, messages: list, schema: dict, name: str, style: str, probe: bool = False
    ) -> Completion:
        kwargs: dict[str, Any] = {}
        if self.max_tokens:
            kwargs["max_tokens"] = self.max_tokens
        if self.logprobs:
            # top_logprobs too: llama-cpp-python's server returns none without it
            kwargs.update(logprobs=True, top_logprobs=1)
        client = self._client.with_options(max_retries=0) if probe else self._client
        try:
            resp = self._timed(client).chat.completions.create(  # type: ignore[call-overload]
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                response_format=response_format(style, schema, name),
                **kwargs,
            )
        except self._openai.BadRequestError as exc:
            if not (self.logprobs and "logprob" in str(exc).lower()):
                raise
            self.logprobs = False  # an endpoint that refuses them: ask again without
            return self._create(messages, schema, name, style, probe)
        self.usage.calls += 1
        if resp.usage is not None:
            self.usage.prompt_tokens += resp.usage.prompt_tokens or 0
            self.usage.completion_tokens += resp.usage.completion_tokens or 0
        if not resp.choices:
            raise ReplyError("the LM returned no choices")
        message = resp.choices[0].message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise EmulationError(f"the LM refused: {refusal}")
        if message.content is None:
            raise ReplyError("the LM reply has no content")
        logprobs = getattr(resp.choices[0], "logprobs", None)
        tokens = tokens_from_logprobs(getattr(logprobs, "content", None))
        return Completion(message.content, reply_confidence(message.content, tokens))

    def _timed(self, client: Any) -> Any:
        """``client``, cut to the time left before this context's request deadline."""
        deadline = _DEADLINE.get()
        if deadline is None:
            return client
        left = deadline - time.monotonic()
        if left <= 0:
            raise EmulationError("no time left for an LM request")
        return client.with_options(timeout=min(self.timeout, left), max_retries=0)

    def _describe(self, exc: Exception) -> EmulationError:
        o = self._openai
        if isinstance(exc, o.APITimeoutError):
            limit = (
                "in the time left" if _DEADLINE.get() is not None else f"within {self.timeout:g} s"
            )
            return EmulationError(f"the LM at {self.base_url} did not answer {limit}")
        if isinstance(exc, o.APIConnectionError):
            return EmulationError(f"cannot reach the LM at {self.base_url}")
        if isinstance(exc, o.APIStatusError) and 300 <= exc.status_code < 400:
            return EmulationError(
                f"the LM at {self.base_url} answered HTTP {exc.status_code}, a redirect, "
                "which is not followed"
            )
        if isinstance(exc, o.APIStatusError):
            detail = _error_detail(exc)
            return EmulationError(
                f"the LM at {self.base_url} answered HTTP {exc.status_code}: {detail}"
            )
        return EmulationError(f"LM request failed: {type(exc).__name__}: {exc}")


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or (body.get("error") or {}).get("message")
        if msg:
            return str(msg)[:300]
    return str(getattr(exc, "message", exc))[:300]
