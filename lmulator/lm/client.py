"""LM clients: chat completions through the ``openai`` client, with a JSON schema per request."""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..errors import EmulationError, ReplyError
from ..kinds import SCHEMA_STYLES
from ..usage import charge, check_budget
from .confidence import reply_confidence, tokens_from_logprobs

#: How often a streamed reply's text is handed on, at most (seconds between updates).
STREAM_EVERY_S = 0.1


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


def stream_text(
    client: ChatClient,
    messages: list[dict[str, str]],
    max_tokens: int = 700,
    on_text: Callable[[str], None] | None = None,
) -> str:
    """The client's free-text reply, its text so far handed to ``on_text`` as it is written,
    where the client streams (one that does not hands it the whole reply once)."""
    streamer = getattr(client, "stream_text", None)
    if on_text is not None and callable(streamer):
        return str(streamer(messages, max_tokens, on_text))
    text = client.complete_text(messages, max_tokens)
    if on_text is not None:
        on_text(text)
    return text


@dataclass
class Usage:
    """What a client has spent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


# When set (a monotonic time), LM requests sent from this context are cut off then.
_DEADLINE: ContextVar[float | None] = ContextVar("lmulator_request_deadline", default=None)
# Inside a request's thread: when it ends, and whether that is the context's deadline.
_CALL_END: ContextVar[tuple[float, bool] | None] = ContextVar("lmulator_call_end", default=None)
T = TypeVar("T")


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
    ``base_url`` and nowhere else. ``timeout`` bounds each request as a whole (connecting,
    sending, every read, every retry): once it passes, the connection is closed and the request
    ends with EmulationError, however slowly the endpoint keeps answering."""

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
        self._lock = threading.Lock()
        self._busy = False  # ``_client`` is in a request's hands (others get their own)
        self.base_url = base_url
        self.model = model
        self.temperature = temperature
        self.schema_style = schema_style
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.usage = Usage()
        self.logprobs = True  # asked for until the endpoint refuses them
        self.stream_usage = True  # a stream's usage asked for until the endpoint refuses it

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
        return self._bounded(lambda client: self._scored(client, messages, schema, name))

    def complete_text(self, messages: list[dict[str, str]], max_tokens: int = 700) -> str:
        """Send one chat completion request without a reply schema; return the text."""
        return self._bounded(lambda client: self._text(client, messages, max_tokens))

    def stream_text(
        self, messages: list[dict[str, str]], max_tokens: int, on_text: Callable[[str], None]
    ) -> str:
        """Like :meth:`complete_text`, streamed: ``on_text`` gets the text so far (in this
        thread, at most every ``STREAM_EVERY_S``) while it is written. An exception from
        ``on_text`` (an interrupt) closes the connection, which stops the generation."""
        sink: queue.SimpleQueue[str] = queue.SimpleQueue()
        return self._bounded(
            lambda client: self._streamed(client, messages, max_tokens, sink.put), (sink, on_text)
        )

    def _scored(self, client: Any, messages: list, schema: dict, name: str) -> Completion:
        if self.schema_style != "auto":
            return self._guarded_create(client, messages, schema, name, self.schema_style)
        # First request: probe the OpenAI form once, without retries, and settle the style.
        try:
            completion = self._create(client, messages, schema, name, "json_schema", probe=True)
        except self._openai.APIStatusError as exc:
            if not _rejects_schema_form(exc):
                raise self._describe(exc) from None
            self.schema_style = "json_object"
            return self._guarded_create(client, messages, schema, name, "json_object")
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None
        self.schema_style = "json_schema"
        return completion

    def _text(self, client: Any, messages: list, max_tokens: int) -> str:
        try:
            resp = self._timed(client).chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                max_tokens=max_tokens,
            )
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None
        self._count(resp.usage)
        if not resp.choices or resp.choices[0].message.content is None:
            raise EmulationError("the LM returned no text")
        return str(resp.choices[0].message.content)

    def _streamed(
        self, client: Any, messages: list, max_tokens: int, put: Callable[[str], None]
    ) -> str:
        extra = {"stream_options": {"include_usage": True}} if self.stream_usage else {}
        try:
            stream = self._timed(client).chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=self.temperature,
                max_tokens=max_tokens,
                stream=True,
                **extra,
            )
            text, pieces, usage = read_stream(stream, put)
        except self._openai.BadRequestError as exc:
            if not (self.stream_usage and "stream_options" in str(exc)):
                raise self._describe(exc) from None
            self.stream_usage = False  # an endpoint that refuses the option: ask without
            return self._streamed(client, messages, max_tokens, put)
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None
        self._count(usage, fallback_completion=pieces)  # no usage: a chunk is about a token
        if not text:
            raise EmulationError("the LM returned no text")
        return text

    def _count(self, usage: Any, fallback_completion: int = 0) -> None:
        """Add a reply's tokens (as the endpoint counted them) to this client's usage and to
        the run's meter."""
        if usage is None:
            prompt, completion = 0, fallback_completion
        else:
            prompt = getattr(usage, "prompt_tokens", 0) or 0
            completion = getattr(usage, "completion_tokens", 0) or 0
        self.usage.calls += 1
        self.usage.prompt_tokens += prompt
        self.usage.completion_tokens += completion
        charge(prompt_tokens=prompt, completion_tokens=completion)

    def _guarded_create(
        self, client: Any, messages: list, schema: dict, name: str, style: str
    ) -> Completion:
        try:
            return self._create(client, messages, schema, name, style)
        except self._openai.OpenAIError as exc:
            raise self._describe(exc) from None

    def _create(
        self, client: Any, messages: list, schema: dict, name: str, style: str, probe: bool = False
    ) -> Completion:
        kwargs: dict[str, Any] = {}
        if self.max_tokens:
            kwargs["max_tokens"] = self.max_tokens
        if self.logprobs:
            # top_logprobs too: llama-cpp-python's server returns none without it
            kwargs.update(logprobs=True, top_logprobs=1)
        try:
            resp = self._timed(client, probe).chat.completions.create(
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
            return self._create(client, messages, schema, name, style, probe)
        self._count(resp.usage)
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

    # -- the deadline ---------------------------------------------------------------------

    def _bounded(
        self,
        request: Callable[[Any], T],
        pump: tuple[queue.SimpleQueue[str], Callable[[str], None]] | None = None,
    ) -> T:
        """``request(openai_client)`` in a thread of its own, waited for until the client's
        timeout (or the context's request deadline, if sooner) passes; then its connection is
        closed, which ends it, and EmulationError is raised. No retry starts after that. With
        ``pump`` (a queue the request puts its text so far in, and a callback), the text is
        handed to the callback from this thread while the request runs. The run's budget is
        checked first, and the request charged to its meter."""
        check_budget()
        now = time.monotonic()
        context_end = _DEADLINE.get()
        end, by_context = now + self.timeout, False
        if context_end is not None:
            if context_end <= now:
                raise EmulationError("no time left for an LM request")
            end, by_context = min(end, context_end), context_end < end
        client, own = self._checkout()
        outcome: list[Any] = []
        done = threading.Event()
        context = contextvars.copy_context()

        def run() -> None:
            try:
                _CALL_END.set((end, by_context))  # in the copied context only
                outcome.append((True, request(client)))
            except BaseException as exc:  # handed to the waiting thread
                outcome.append((False, exc))
            finally:
                done.set()

        finished = False
        try:
            threading.Thread(
                target=context.run, args=(run,), name="lmulator-lm-request", daemon=True
            ).start()
            if pump is None:
                finished = done.wait(max(0.0, end - time.monotonic()))
            else:
                finished = _pump(done, end, *pump)
        finally:
            self._checkin(client, own, keep=finished)  # an abandoned one is closed: that ends it
            charge(calls=1, seconds=time.monotonic() - now)
        if not finished:
            raise self._late(by_context)
        ok, value = outcome[0]
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    def _checkout(self) -> tuple[Any, bool]:
        """An OpenAI client for one request: this one's own, unless a request holds it."""
        with self._lock:
            if not self._busy:
                self._busy = True
                return self._client, True
            template = self._client
        return self._fresh(template), False

    def _checkin(self, client: Any, own: bool, *, keep: bool) -> None:
        """Take back a request's client; close it unless it is this one's own, kept."""
        if own:
            with self._lock:
                if not keep and self._client is client:
                    self._client = self._fresh(client)  # the next request connects anew
                self._busy = False
        if own and keep:
            return
        try:
            client.close()
        except Exception:  # closing must never hide the request's own outcome
            pass

    def _fresh(self, template: Any) -> Any:
        """A copy of the OpenAI client ``template`` with HTTP connections of its own."""
        http = self._openai.DefaultHttpxClient(follow_redirects=False)
        return template.with_options(http_client=http)

    def _timed(self, client: Any, probe: bool = False) -> Any:
        """``client``, cut to the time left in this request (no retries under a context's
        deadline, or for a probe)."""
        call = _CALL_END.get()
        options: dict[str, Any] = {}
        if probe or _DEADLINE.get() is not None:
            options["max_retries"] = 0
        if call is not None:
            end, by_context = call
            left = end - time.monotonic()
            if left <= 0:
                raise self._late(by_context)
            options["timeout"] = left
        return client.with_options(**options) if options else client

    def _late(self, by_context: bool) -> EmulationError:
        """The error of a request that ran out of time."""
        limit = "in the time left" if by_context else f"within {self.timeout:g} s"
        return EmulationError(f"the LM at {self.base_url} did not answer {limit}")

    def _describe(self, exc: Exception) -> EmulationError:
        """The EmulationError that says what went wrong with a request."""
        call = _CALL_END.get()
        by_context = call[1] if call is not None else _DEADLINE.get() is not None
        return describe_error(self._openai, exc, self.base_url, self._late(by_context))


def describe_error(
    openai: Any, exc: Exception, base_url: str, late: EmulationError
) -> EmulationError:
    """What an ``openai`` exception means for a request to ``base_url``, in one line
    (``late`` for a timeout)."""
    if isinstance(exc, openai.APITimeoutError):
        return late
    if isinstance(exc, openai.APIConnectionError):
        return EmulationError(f"cannot reach the LM at {base_url}")
    if isinstance(exc, openai.APIStatusError) and 300 <= exc.status_code < 400:
        return EmulationError(
            f"the LM at {base_url} answered HTTP {exc.status_code}, a redirect, "
            "which is not followed"
        )
    if isinstance(exc, openai.APIStatusError):
        detail = _error_detail(exc)
        return EmulationError(f"the LM at {base_url} answered HTTP {exc.status_code}: {detail}")
    return EmulationError(f"LM request failed: {type(exc).__name__}: {exc}")


def read_stream(stream: Any, put: Callable[[str], None]) -> tuple[str, int, Any]:
    """Read a streamed chat completion: its text (each longer text so far handed to ``put``),
    how many chunks carried text, and its usage (None where the endpoint sent none)."""
    parts: list[str] = []
    usage = None
    for chunk in stream:
        usage = getattr(chunk, "usage", None) or usage
        if not chunk.choices:
            continue
        piece = getattr(chunk.choices[0].delta, "content", None)
        if piece:
            parts.append(piece)
            put("".join(parts))
    return "".join(parts), len(parts), usage


def _pump(
    done: threading.Event, end: float, sink: queue.SimpleQueue[str], on_text: Callable[[str], None]
) -> bool:
    """Hand the latest text in ``sink`` to ``on_text`` (at most every ``STREAM_EVERY_S``)
    until ``done`` is set (True) or ``end`` (a monotonic time) passes (False)."""
    shown = ""
    while True:
        finished = done.wait(max(0.0, min(STREAM_EVERY_S, end - time.monotonic())))
        latest = shown
        while True:
            try:
                latest = sink.get_nowait()
            except queue.Empty:
                break
        if latest != shown:
            shown = latest
            on_text(latest)
        if finished:
            return True
        if time.monotonic() >= end:
            return False


def _error_detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        msg = body.get("message") or (body.get("error") or {}).get("message")
        if msg:
            return str(msg)[:300]
    return str(getattr(exc, "message", exc))[:300]
