"""``python -m dinky_falcon serve`` in a subprocess on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

LISTENING = re.compile(r"listening on http://[\d.]+:(\d+)")


class ServiceProcess:
    def __init__(self, env: dict[str, str], cwd: Path, *extra_args: str):
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.args = [
            sys.executable,
            "-m",
            "dinky_falcon",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *extra_args,
        ]
        self.log: list[str] = []
        self.log_complete = threading.Event()  # the process closed its log
        self.port: int | None = None

    def start(self, timeout: float = 15) -> ServiceProcess:
        self.process = subprocess.Popen(
            self.args,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        threading.Thread(target=self._read_log, args=(ready,), daemon=True).start()
        if not ready.wait(timeout) or self.port is None:
            self.stop()
            raise RuntimeError("the service did not start:\n" + "\n".join(self.log))
        return self

    def _read_log(self, ready: threading.Event) -> None:
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))
            match = LISTENING.search(line)
            if match:
                self.port = int(match.group(1))
                ready.set()
        ready.set()  # the process ended
        self.log_complete.set()

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 30):
        """-> (status, headers, parsed JSON body)"""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()

    def stop(self, timeout: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_or_refuse(env: dict[str, str], cwd: Path, *args: str, timeout: float = 30):
    """Run ``serve`` with exactly ``env`` (no inherited variables) until it listens or ends.

    -> (exit code, stderr lines); the exit code is None when it listened (it is then stopped),
    so a configuration that should have been refused fails the test at once.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "dinky_falcon", "serve", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            if LISTENING.search(line):
                process.send_signal(signal.SIGTERM)
                process.wait(10)
                return None, lines
        return process.wait(), lines
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
