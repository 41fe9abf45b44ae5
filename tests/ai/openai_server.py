"""A local OpenAI-compatible chat.completions server for tests and the bench.

It answers like api.openai.com: bodies built from recorded real responses
(/work/shared/fixtures/openai/) with `usage`, and the real error bodies for
429 and 500. Each response goes out in one write with TCP_NODELAY (see the
fixtures README on loopback latency).
"""

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path("/work/shared/fixtures/openai")
_FALLBACK_BODY = {
    "id": "chatcmpl-ABfvaueLEMLNYbT8YzpJxsmiQ6HSY", "object": "chat.completion", "created": 1727346142,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 14, "completion_tokens": 37, "total_tokens": 51,
              "completion_tokens_details": {"reasoning_tokens": 0}},
    "system_fingerprint": "fp_b40fb1c6fb",
}


def _recorded_completion() -> dict:
    path = FIXTURES / "openai-python_recorded_chat_completions.json"
    if path.exists():
        return json.loads(json.loads(path.read_text())["responses"]["line44_stop_n1"])
    return json.loads(json.dumps(_FALLBACK_BODY))


def _recorded_errors() -> dict:
    path = FIXTURES / "openai_error_bodies_from_issues.json"
    if path.exists():
        data = json.loads(path.read_text())
        return {"429": data["429_rate_limit_exceeded"]["body"], "500": data["500_server_error"]["body"],
                "429_quota": data["429_insufficient_quota"]["body"]}
    return {"429": {"error": {"message": "Rate limit reached", "type": "tokens", "param": None,
                              "code": "rate_limit_exceeded"}},
            "500": {"error": {"message": "The server had an error processing your request.",
                              "type": "server_error", "param": None, "code": None}}}


COMPLETION = _recorded_completion()
ERRORS = _recorded_errors()
BAD_REQUEST = {"error": {"message": "Invalid value for 'temperature': must be between 0 and 2.",
                         "type": "invalid_request_error", "param": "temperature", "code": None}}


def ok(content="Hello from the local server.", *, prompt_tokens=14, completion_tokens=37, usage=True):
    """A 200 chat.completion; `content` may be a function of the request JSON; usage=False leaves `usage` out."""
    return ("ok", content, prompt_tokens, completion_tokens, usage)


def error(status: int, body: dict | None = None, headers: dict | None = None):
    if body is None:
        body = ERRORS.get(str(status), ERRORS["500"]) if status >= 500 or status == 429 else BAD_REQUEST
    return ("error", status, body, headers or {})


def raw(status: int, body: bytes, content_type: str = "text/html"):
    """A body that is not an API answer (a proxy's error page, a truncated reply)."""
    return ("raw", status, body, content_type)


def slow(seconds: float, then=None):
    return ("slow", seconds, then or ok())


class OpenAIServer:
    """Start with `.start()`; script answers with `.queue(...)`; `default` answers when the queue is empty."""

    def __init__(self, default=None):
        self.default = default or ok()
        self.answers: deque = deque()
        self.requests: list[dict] = []
        # GET /v1/models answers 401 to a bearer key not in this set (when it is given).
        self.valid_keys: set[str] | None = None
        self.lock = threading.Lock()
        self._server = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def queue(self, *answers) -> "OpenAIServer":
        self.answers.extend(answers)
        return self

    def start(self) -> "OpenAIServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.rstrip("/") != "/v1/models":
                    return self._send(404, {"error": {"message": f"Unknown path {self.path}"}})
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if owner.valid_keys is not None and key not in owner.valid_keys:
                    return self._send(401, {"error": {"message": "Incorrect API key provided.",
                                                      "type": "invalid_request_error", "code": "invalid_api_key"}})
                self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                with owner.lock:
                    owner.requests.append(body)
                    answer = owner.answers.popleft() if owner.answers else owner.default
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"Unknown path {self.path}", "type":
                                                      "invalid_request_error", "param": None, "code": None}})
                self._answer(answer, body)

            def _answer(self, answer, body):
                kind = answer[0]
                if kind == "slow":
                    time.sleep(answer[1])
                    return self._answer(answer[2], body)
                if kind == "error":
                    return self._send(answer[1], answer[2], answer[3])
                if kind == "raw":
                    return self._send(answer[1], answer[2], {"Content-Type": answer[3]})
                content = answer[1](body) if callable(answer[1]) else answer[1]
                reply = json.loads(json.dumps(COMPLETION))
                reply["model"] = body.get("model", reply["model"])
                reply["choices"][0]["message"]["content"] = content
                reply["usage"].update(prompt_tokens=answer[2], completion_tokens=answer[3],
                                      total_tokens=answer[2] + answer[3])
                if not answer[4]:
                    del reply["usage"]
                self._send(200, reply)

            def _send(self, status, payload, headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
                lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}", f"Content-Length: {len(data)}",
                         *(f"{k}: {v}" for k, v in headers.items())]
                try:
                    self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def refused_url() -> str:
    """A loopback URL where nothing listens: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"
