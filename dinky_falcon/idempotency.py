"""Idempotency keys: a request repeated under the same key is answered once, sent once.

A key is first *claimed* (in progress, for at most IN_PROGRESS_LEASE seconds, so a crashed
process does not hold it for ever), then either *completed* with the answer to replay for
IDEMPOTENCY_TTL seconds, or *released* when the send failed, so that a retry may send.

Two stores share that contract: SQLite under DATA_DIR (the default; WAL mode, safe across
waitress threads and across processes on one host) and Redis (IDEMPOTENCY_STORE=redis://...,
for several replicas).
"""

from __future__ import annotations

import enum
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .redact import redact_url

IN_PROGRESS_LEASE = 300  # seconds: far longer than any send (SMTP_TIMEOUT per step)
MAX_KEY_LENGTH = 256


class StoreUnavailable(Exception):
    """The idempotency store cannot be read or written: 503, retry later."""


class Outcome(enum.Enum):
    STARTED = "started"  # the caller owns the key now: send, then complete or release
    REPLAY = "replay"  # done before with the same body: answer with ``Claim.answer``
    MISMATCH = "mismatch"  # the key was used with another body
    IN_PROGRESS = "in progress"  # another request with this key has not finished


@dataclass(frozen=True)
class Answer:
    """A stored response: status code and JSON body."""

    status: int
    body: dict


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    answer: Answer | None = None


def fingerprint(document) -> str:
    """The request body's identity: equal JSON documents match, whatever their key order."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _judge(stored_fingerprint: str, status: int | None, body: str | None, fp: str) -> Claim:
    if stored_fingerprint != fp:
        return Claim(Outcome.MISMATCH)
    if status is None:
        return Claim(Outcome.IN_PROGRESS)
    return Claim(Outcome.REPLAY, Answer(status, json.loads(body)))


class SqliteStore:
    """One table in ``<DATA_DIR>/idempotency.sqlite3``; one connection per thread."""

    def __init__(self, path: Path, ttl: int, lease: int = IN_PROGRESS_LEASE, clock: Callable[[], float] = time.time):
        self.path, self.ttl, self.lease, self.clock = path, ttl, lease, clock
        self.location = str(path)  # what /health/ready names
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:  # creates the table, or fails at start
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY,"
                    " fingerprint TEXT NOT NULL, status INTEGER, body TEXT, expires REAL NOT NULL)"
                )
                db.execute("CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency (expires)")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"DATA_DIR={str(path.parent)!r}: cannot keep idempotency keys there ({exc})") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, far fewer fsyncs
        with self._lock:
            self._connections.append(db)
        return db

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _run(self, work: Callable[[sqlite3.Connection], object]):
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the idempotency store failed: {exc}") from exc

    def claim(self, key: str, fp: str) -> Claim:
        def work(db):
            now = self.clock()
            db.execute("DELETE FROM idempotency WHERE expires <= ?", (now,))
            row = db.execute(
                "SELECT fingerprint, status, body FROM idempotency WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                return _judge(*row, fp)
            db.execute(
                "INSERT INTO idempotency (key, fingerprint, expires) VALUES (?, ?, ?)",
                (key, fp, now + self.lease),
            )
            return Claim(Outcome.STARTED)

        return self._run(work)

    def complete(self, key: str, fp: str, answer: Answer) -> None:
        self._run(
            lambda db: db.execute(
                "UPDATE idempotency SET status = ?, body = ?, expires = ?"
                " WHERE key = ? AND fingerprint = ?",
                (answer.status, json.dumps(answer.body), self.clock() + self.ttl, key, fp),
            )
        )

    def release(self, key: str, fp: str) -> None:
        self._run(
            lambda db: db.execute(
                "DELETE FROM idempotency WHERE key = ? AND fingerprint = ? AND status IS NULL",
                (key, fp),
            )
        )

    def check(self) -> None:
        """StoreUnavailable when the store cannot be used (for /health/ready)."""
        self._run(lambda db: db.execute("SELECT 1 FROM idempotency LIMIT 1").fetchall())

    def close(self) -> None:
        with self._lock:
            for db in self._connections:
                db.close()
            self._connections.clear()
        self._local = threading.local()


# Delete the key only if it still holds this request's claim (not a later completion).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisStore:
    """Keys ``dinky-falcon:idempotency:<key>`` whose expiry is the lease, then the TTL."""

    PREFIX = "dinky-falcon:idempotency:"

    def __init__(self, url: str, ttl: int, lease: int = IN_PROGRESS_LEASE):
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
        self.ttl, self.lease = ttl, lease
        self._release = self.client.register_script(_RELEASE)

    def _call(self, work: Callable[[], object]):
        try:
            return work()
        except self.errors as exc:
            raise StoreUnavailable(f"the idempotency store failed: {exc}") from exc

    @staticmethod
    def _pending(fp: str) -> str:
        return json.dumps({"fingerprint": fp})

    def claim(self, key: str, fp: str) -> Claim:
        name = self.PREFIX + key
        for _ in range(3):  # the record may expire between SET NX and GET
            if self._call(lambda: self.client.set(name, self._pending(fp), nx=True, ex=self.lease)):
                return Claim(Outcome.STARTED)
            raw = self._call(lambda: self.client.get(name))
            if raw is not None:
                record = json.loads(raw)
                return _judge(record["fingerprint"], record.get("status"), record.get("body"), fp)
        return Claim(Outcome.IN_PROGRESS)

    def complete(self, key: str, fp: str, answer: Answer) -> None:
        record = {"fingerprint": fp, "status": answer.status, "body": json.dumps(answer.body)}
        self._call(lambda: self.client.set(self.PREFIX + key, json.dumps(record), ex=self.ttl))

    def release(self, key: str, fp: str) -> None:
        self._call(lambda: self._release(keys=[self.PREFIX + key], args=[self._pending(fp)]))

    def check(self) -> None:
        """StoreUnavailable when the store cannot be reached (for /health/ready)."""
        self._call(self.client.ping)

    def close(self) -> None:
        self.client.close()


def open_store(settings) -> SqliteStore | RedisStore:
    """The store IDEMPOTENCY_STORE selects: empty for SQLite under DATA_DIR, else Redis."""
    if settings.idempotency_store:
        return RedisStore(settings.idempotency_store, settings.idempotency_ttl)
    return SqliteStore(Path(settings.data_dir) / "idempotency.sqlite3", settings.idempotency_ttl)
