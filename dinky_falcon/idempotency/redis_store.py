"""The Redis store (IDEMPOTENCY_STORE=redis://...): shared by several replicas."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from ..errors import ConfigError
from ..redact import redact_url
from .records import IN_PROGRESS_LEASE, LAPSED, Answer, Claim, Outcome, StoreUnavailable, _judge

# Delete the key only if it still holds this request's claim (not a completion).
_RELEASE = """
local raw = redis.call('get', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.fingerprint == ARGV[1] and record.status == nil then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisStore:
    """Keys ``dinky-falcon:idempotency:<key>``: a claim records the end of its lease and lives
    a TTL beyond it (to answer "outcome unknown" once lapsed); an answer lives a TTL.

    A claim written before lapsing existed (no ``lease_until``) stays "in progress" until
    Redis expires it, as it did then."""

    PREFIX = "dinky-falcon:idempotency:"

    def __init__(
        self,
        url: str,
        ttl: int,
        lease: int = IN_PROGRESS_LEASE,
        clock: Callable[[], float] = time.time,
    ):
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "IDEMPOTENCY_STORE is a Redis URL but the redis client is not installed: "
                "pip install 'dinky-falcon[redis]'"
            ) from None
        try:
            self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        except ValueError:
            # Not redis-py's words: they may quote a piece of a misplaced password.
            raise ConfigError(
                f"IDEMPOTENCY_STORE={redact_url(url)!r} is not a usable Redis URL: "
                "redis://[:password@]host:6379/0 (percent-encode / ? # @ in a password)"
            ) from None
        self.errors = redis.RedisError
        self.location = redact_url(url)  # what /health/ready names: never the password
        self.ttl, self.lease, self.clock = ttl, lease, clock
        self._release = self.client.register_script(_RELEASE)

    def _call(self, work: Callable[[], object]):
        try:
            return work()
        except self.errors as exc:
            raise StoreUnavailable(f"the idempotency store failed: {exc}") from exc

    def claim(self, key: str, fp: str) -> Claim:
        name = self.PREFIX + key
        for _ in range(3):  # the record may expire between SET NX and GET
            pending = json.dumps({"fingerprint": fp, "lease_until": self.clock() + self.lease})
            if self._call(
                lambda p=pending: self.client.set(name, p, nx=True, ex=self.lease + self.ttl)
            ):
                return Claim(Outcome.STARTED)
            raw = self._call(lambda: self.client.get(name))
            if raw is not None:
                return self._judge(json.loads(raw), fp)
        return Claim(Outcome.IN_PROGRESS)

    def _judge(self, record: dict, fp: str) -> Claim:
        status, body = record.get("status"), record.get("body")
        if status is None and record.get("lease_until", float("inf")) <= self.clock():
            status, body = LAPSED.status, json.dumps(LAPSED.body)
        return _judge(record["fingerprint"], status, body, fp)

    def complete(self, key: str, fp: str, answer: Answer) -> None:
        record = {"fingerprint": fp, "status": answer.status, "body": json.dumps(answer.body)}
        self._call(lambda: self.client.set(self.PREFIX + key, json.dumps(record), ex=self.ttl))

    def release(self, key: str, fp: str) -> None:
        self._call(lambda: self._release(keys=[self.PREFIX + key], args=[fp]))

    def check(self) -> None:
        """StoreUnavailable when the store cannot be reached (for /health/ready)."""
        self._call(self.client.ping)

    def close(self) -> None:
        self.client.close()
