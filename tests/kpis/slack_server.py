"""A local HTTP server speaking Slack's incoming-webhook protocol (POST JSON, answer `ok`)."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlackWebhookServer:
    """Records each posted message; answers with the next status from `statuses` (then 200)."""

    def __init__(self, statuses=None):
        self.statuses = list(statuses or [])
        self.messages: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                code = server.statuses.pop(0) if server.statuses else 200
                if code == 200:
                    server.messages.append(json.loads(body))
                text = b"ok" if code == 200 else b"invalid_payload" if code < 500 else b"server_error"
                # Headers and body in one write: no Nagle/delayed-ACK stall on loopback.
                self.wfile.write(
                    b"HTTP/1.1 %d X\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                    % (code, len(text), text)
                )

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T000/B000/XXXX"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
