"""Real HTTP servers on 127.0.0.1 for attacking the broker: one that records every request it
gets, and a hostile LM endpoint that redirects, echoes the Authorization header back, answers a
reply too long for any pipe, or trickles its answer one byte a second."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint.Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        endpoint = self.server.endpoint
        with endpoint.lock:
            endpoint.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body.decode(errors="replace")})  # fmt: skip
        if endpoint.mode == "trickle":
            self._trickle(endpoint)
            return
        status, headers, payload = endpoint.respond(self)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _trickle(self, endpoint: Endpoint) -> None:
        """Promise a long body, then send it one byte a second until the client gives up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(TRICKLE_BYTES))
        self.end_headers()
        try:
            self.wfile.write(b"{")
            self.wfile.flush()
            for _ in range(TRICKLE_BYTES - 1):
                if endpoint.stopped.wait(1.0):
                    return
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            return  # the client closed the connection

    do_GET = do_POST = _answer


TRICKLE_BYTES = 100_000
HUGE_CHARS = 33 * 1024 * 1024  # a reply longer than a pipe message may be (32 MiB)


def completion(content: str) -> dict[str, Any]:
    """A chat completion whose one choice says ``content``."""
    return {
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }  # fmt: skip


class Endpoint:
    """An OpenAI-compatible endpoint on a free port, answering as ``mode`` says.

    ``record``: a valid completion (and the request is recorded, as in every mode);
    ``redirect``: ``status`` with a Location pointing at ``target``;
    ``echo_error``: HTTP 401 whose message holds ``pad``, the Authorization header and ``leak``;
    ``echo_reply``: a completion whose text holds them;
    ``huge``: a completion whose text is a value of ``HUGE_CHARS`` characters;
    ``trickle``: a ``Content-Length`` of ``TRICKLE_BYTES``, then one byte a second.
    """

    class Server(ThreadingHTTPServer):
        endpoint: Endpoint
        daemon_threads = True

    def __init__(
        self,
        mode: str = "record",
        *,
        target: str = "",
        status: int = 307,
        leak: str = "",
        pad: str = "",
    ) -> None:
        self.mode, self.target, self.status, self.leak, self.pad = mode, target, status, leak, pad
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.server = Endpoint.Server(("127.0.0.1", 0), _Handler)
        self.server.endpoint = self
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON body for one request."""
        said = f"{self.pad}{handler.headers.get('Authorization')} {self.leak}"
        if self.mode == "redirect":
            return self.status, {"Location": self.target + handler.path[3:]}, {"moved": True}
        if self.mode == "echo_error":
            return 401, {}, {"error": {"message": f"bad credentials: {said}", "type": "auth"}}
        if self.mode == "echo_reply":
            return 200, {}, completion(json.dumps({"value": said}))
        if self.mode == "huge":
            return 200, {}, completion(json.dumps({"value": "A" * HUGE_CHARS}))
        return 200, {}, completion('{"value": 1}')

    def seen(self) -> list[dict[str, Any]]:
        """The requests received so far."""
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        """Stop serving and free the port."""
        self.stopped.set()  # trickling answers end
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
