"""A real redis-server (Debian's package) on a free 127.0.0.1 port, without persistence."""

from __future__ import annotations

import shutil
import subprocess
import time

import redis

from smtp_peer import free_port


class RedisServer:
    def __init__(self, directory):
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed: bash .ci/run installs it (apt-get)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [executable, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(directory), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
        )
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=10)
