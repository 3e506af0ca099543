"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol, for tests and benchmarks.

The answer to each request comes from a handler, a function of the request body, so a
test can script rate limits, server errors, slow answers, dropped connections or a real
model behind it. It binds 127.0.0.1 on a free port, checks a bearer token when given one,
and records every body it receives.

    def handler(body):
        return Reply(body=completion("Score: 7"))

    with OpenAIServer(handler) as server:
        ...  # server.url == "http://127.0.0.1:<port>/v1"
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What the server sends back. `drop=True` closes the connection without an answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


Handler = Callable[[dict[str, Any]], Reply]


def completion(
    text: str,
    finish_reason: str = "stop",
    logprobs: list[dict[str, Any]] | None = None,
    prompt_tokens: int = 10,
    completion_tokens: int | None = None,
    model: str = "test-judge",
) -> dict[str, Any]:
    """An OpenAI chat-completions body with one choice; `logprobs` is the list under `logprobs.content`."""
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": finish_reason,
    }
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    completion_tokens = len(text.split()) if completion_tokens is None else completion_tokens
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def token_logprobs(token: str, logprob: float, top: dict[str, float]) -> dict[str, Any]:
    """One entry of `logprobs.content`."""
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top.items()],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default (5) drops connections when many clients connect at once


class OpenAIServer:
    def __init__(self, handler: Handler, api_key: str | None = None) -> None:
        self.handler, self.api_key = handler, api_key
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._request_handler())
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.bodies)

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out as two writes; do not wait 40 ms between

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(Reply(404, {"error": {"message": f"no route {self.path}"}}))
                if server.api_key and self.headers.get("Authorization") != f"Bearer {server.api_key}":
                    return self._send(Reply(401, {"error": {"message": "invalid API key"}}))
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._send(Reply(400, {"error": {"message": "body is not JSON"}}))
                with server._lock:
                    server.bodies.append(body)
                self._send(server.handler(body))

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = reply.body if isinstance(reply.body, (str, bytes)) else json.dumps(reply.body)
                data = payload.encode() if isinstance(payload, str) else payload
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a time-out test)
                    self.close_connection = True

        return RequestHandler
