"""A real HTTP server for the tests on 127.0.0.1 (http.server in a thread), a webhook receiver.

Every request is recorded (method, path, headers, raw body). ``status`` sets the answer,
``location`` adds a Location header (for redirects), ``hang`` makes each answer wait
until the server stops, so a client's timeout can be tested without sleeping, and ``drop``
closes the connection after reading the whole request, with no answer (a lost verdict).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        peer = self.server.peer
        length = int(self.headers.get("Content-Length") or 0)
        request = HttpRequest(self.command, self.path, dict(self.headers), self.rfile.read(length))
        with peer.lock:
            peer.requests.append(request)
        if peer.hang:
            peer.stopping.wait(timeout=30)
        if peer.drop:
            self.close_connection = True
            return
        self.send_response(peer.status)
        if peer.location:
            self.send_header("Location", peer.location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format, *args) -> None:
        pass  # the tests assert on requests, not on stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default 5 makes a burst of connections wait a second

    def __init__(self, peer: HttpPeer):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peer = peer


class HttpPeer:
    def __init__(self):
        self.requests: list[HttpRequest] = []
        self.status = 200
        self.location: str | None = None
        self.hang = False
        self.drop = False
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = _Server(self)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def __enter__(self) -> HttpPeer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
