"""A small OpenAI-compatible chat server that answers from a script and can inject faults.

Run ``python -m lmulator.testing.server [--port N] [--script FILE]``; it prints
``listening on http://127.0.0.1:PORT/v1`` once it accepts connections.

A script is ``{"rules": [RULE, ...], "reject_json_schema": bool}``. The first rule whose
``match`` substrings all occur in the last user message answers. A rule gives
``reply`` (an object sent as JSON text), ``content`` (raw text), or ``replies`` (a list of
those, used in turn), and may add ``fault``:
``{"status": 500, "message": "..."}``, ``{"delay": seconds}``, ``{"drop": true}``,
``{"truncate": n}``, ``{"empty_choices": true}``, ``{"refusal": "..."}``,
``{"drip": seconds_per_chunk}``, ``{"stream_delay": seconds_per_token}``; ``times`` caps how
often a rule answers. A request with ``"stream": true`` is answered as server-sent events, a chunk
a token (with a last chunk of usage where ``stream_options.include_usage`` asks for it).
Token log-probabilities, for a request that asks for them (``logprobs``), come from a rule's
``tokens`` (``[[text, logprob], ...]``, which must spell the reply) or ``logprob`` (the
log-probability of every token of the reply split at words, spaces and punctuation), else from
the script's ``logprob``; with none of these the reply has ``"logprobs": null``, as from an
endpoint that gives none. A script with ``"reject_logprobs": true`` answers a request that asks
for them with HTTP 400, as some endpoints do.
``POST /_script`` replaces the script, ``GET /_log`` lists the requests received,
``POST /_reset`` clears both.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptState:
    """The script and the log of one server, shared by its handler threads."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.uses: dict[int, int] = {}
        self.stopping = threading.Event()
        self.set_script(script or {"rules": []})

    def set_script(self, script: dict[str, Any]) -> None:
        """Replace the script and forget how often rules were used."""
        with self.lock:
            self.script = script
            self.uses = {}

    def pick(self, user_text: str) -> dict[str, Any] | None:
        """The reply spec for a request: the first matching rule's next reply."""
        with self.lock:
            for index, rule in enumerate(self.script.get("rules", [])):
                if not all(m in user_text for m in rule.get("match", [])):
                    continue
                used = self.uses.get(index, 0)
                if "times" in rule and used >= rule["times"]:
                    continue
                self.uses[index] = used + 1
                if "replies" in rule:
                    seq = rule["replies"]
                    spec = dict(seq[min(used, len(seq) - 1)])
                    spec.setdefault("fault", rule.get("fault"))
                    return spec
                return rule
        return None


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content", "")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


def _completion(
    model: str, content: str | None, refusal: str | None = None, prompt_tokens: int = 0
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    completion_tokens = len((content or "").split())
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]|\s+")


def split_tokens(text: str) -> list[str]:
    """The scripted server's tokens of a text: words and punctuation, each with the spaces
    before it (they spell the text exactly)."""
    return _TOKEN.findall(text)


def _logprobs(spec: dict[str, Any], script: dict[str, Any], content: str | None) -> Any:
    """The ``logprobs`` object of a scripted reply, or None where the script gives none."""
    pairs: list[tuple[str, float]]
    if "tokens" in spec:
        pairs = [(str(t), float(lp)) for t, lp in spec["tokens"]]
    elif "logprob" in spec or "logprob" in script:
        logprob = float(spec.get("logprob", script.get("logprob", 0.0)))
        pairs = [(t, logprob) for t in split_tokens(content or "")]
    else:
        return None
    return {
        "content": [
            {"token": t, "logprob": lp, "bytes": list(t.encode()), "top_logprobs": []}
            for t, lp in pairs
        ],
        "refusal": None,
    }


class Handler(BaseHTTPRequestHandler):
    """Answers the OpenAI chat API from the server's script."""

    server_version = "lmulator-scripted/1"
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> ScriptState:
        """The server's shared script state."""
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def do_GET(self) -> None:
        """Models list and the request log."""
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]}
            )
        elif self.path == "/_log":
            with self.state.lock:
                self._send_json(200, list(self.state.log))
        elif self.path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        """Chat completions and the control routes."""
        try:
            body = self._read_json()
        except ValueError:
            self._send_json(400, {"error": {"message": "request body is not JSON"}})
            return
        if self.path == "/_script":
            self.state.set_script(body)
            self._send_json(200, {"ok": True})
        elif self.path == "/_reset":
            with self.state.lock:
                self.state.log.clear()
            self.state.set_script({"rules": []})
            self._send_json(200, {"ok": True})
        elif self.path.rstrip("/").endswith("/chat/completions"):
            self._chat(body)
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})

    def _chat(self, body: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.log.append(body)
            reject = self.state.script.get("reject_json_schema", False)
            reject_logprobs = self.state.script.get("reject_logprobs", False)
        if reject_logprobs and body.get("logprobs"):
            message = "logprobs are not supported by this model"
            self._send_json(400, {"error": {"message": message, "type": "invalid_request_error"}})
            return
        fmt = body.get("response_format") or {}
        if reject and fmt.get("type") == "json_schema":
            self._send_json(
                500,
                {"error": {"message": "response_format.type: Input should be 'text' or "
                           "'json_object'", "type": "internal_server_error"}},
            )  # fmt: skip
            return
        spec = self.state.pick(_last_user_text(body))
        if spec is None:
            self._send_json(400, {"error": {"message": "no scripted reply matches this request"}})
            return
        fault = spec.get("fault") or {}
        if "delay" in fault:
            self.state.stopping.wait(float(fault["delay"]))
        if "status" in fault:
            self._send_json(
                int(fault["status"]),
                {"error": {"message": fault.get("message", "injected fault")}},
            )
            return
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if "reply" in spec:
            content: str | None = json.dumps(spec["reply"])
        else:
            content = spec.get("content")
        model = body.get("model", "scripted")
        # Token counts are word counts: enough for tests of the accounting, not a tokenizer.
        words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        payload = _completion(model, content, fault.get("refusal"), words)
        if body.get("logprobs") and payload["choices"]:
            with self.state.lock:
                script = self.state.script
            payload["choices"][0]["logprobs"] = _logprobs(spec, script, content)
        if fault.get("empty_choices"):
            payload["choices"] = []
        if body.get("stream") is True:
            self._stream(payload, body, float(fault.get("stream_delay", 0)))
            return
        data = json.dumps(payload).encode()
        if "truncate" in fault:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: int(fault["truncate"])])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if "drip" in fault:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for i in range(0, len(data), 8):
                if self.state.stopping.wait(float(fault["drip"])):
                    return
                try:
                    self.wfile.write(data[i : i + 8])
                    self.wfile.flush()
                except OSError:
                    return
            return
        self._send_json(200, payload)

    def _stream(self, payload: dict[str, Any], body: dict[str, Any], delay: float) -> None:
        """Send a completion as server-sent events: one chunk a token, ``delay`` s apart, then
        the usage where asked for, then ``[DONE]``; the connection closes at the end."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": payload["id"], "object": "chat.completion.chunk",
                "created": payload["created"], "model": payload["model"]}  # fmt: skip
        content = payload["choices"][0]["message"]["content"] if payload["choices"] else None
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"},
                                        "finish_reason": None}]}]  # fmt: skip
        for token in split_tokens(content or ""):
            events.append({**base, "choices": [{"index": 0, "delta": {"content": token},
                                                "finish_reason": None}]})  # fmt: skip
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**base, "choices": [], "usage": payload["usage"]})
        try:
            for i, event in enumerate(events):
                if delay and 0 < i < len(events) - 1 and self.state.stopping.wait(delay):
                    return
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except OSError:
            return  # the client hung up mid-stream (an interrupt)


class ScriptedHTTPServer(ThreadingHTTPServer):
    """The HTTP server; a client that hung up before its reply (a timeout fault) is not an error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients gone mid-reply; report anything else as usual."""
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def serve(port: int = 0, script: dict[str, Any] | None = None) -> ThreadingHTTPServer:
    """Create a scripted server bound to 127.0.0.1 (not yet serving)."""
    server = ScriptedHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.state = ScriptState(script)  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    """Run the scripted server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m lmulator.testing.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", help="JSON file with the initial script")
    args = parser.parse_args(argv)
    script = None
    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            script = json.load(fh)
    server = serve(args.port, script)
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.state.stopping.set()  # type: ignore[attr-defined]
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
