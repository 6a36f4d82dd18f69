"""The app under a real waitress on 127.0.0.1, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass

from waitress import wasyncore

from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings
from dinky_falcon.mailer import Mailer
from dinky_falcon.server import create_server


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


class LiveServer:
    """``with LiveServer(settings) as server:`` serves the app on a free loopback port."""

    def __init__(self, settings: Settings, threads: int = 4, **app_options):
        self.mailer = Mailer.from_settings(settings)
        app = create_app(settings, mailer=self.mailer, **app_options)
        self.server = create_server(settings, app, "127.0.0.1", 0, threads)
        self.port = self.server.effective_port
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # waitress's own run() can only be stopped from its thread: loop here until told to stop.
        while not self.stopping.is_set():
            wasyncore.loop(timeout=0.05, map=self.server._map, count=1)
        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(self.server._map)

    @property
    def sent(self) -> list:
        """What the memory transport was given."""
        return self.mailer.transports[0][1].sent

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.mailer.close()

    def request(self, method: str, path: str, body=None, headers=None) -> Answer:
        """One request on a new connection; ``body`` may be a dict (sent as JSON) or bytes."""
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def send(self, message: dict, headers=None) -> Answer:
        return self.request("POST", "/send", message, headers)

    def healthy(self) -> bool:
        answer = self.request("GET", "/health")
        return answer.status == 200 and answer.json["status"] == "ok"
