"""Idempotency keys: a request repeated under the same key is answered once, sent once.

A key is first *claimed* (in progress), then either *completed* with the answer to replay for
IDEMPOTENCY_TTL seconds, or *released* when the send failed for sure, so that a retry may
send. A claim that is neither within its lease (the process died, or the store failed when
the answer was to be recorded) may have sent: it *lapses* into the answer "outcome unknown",
kept for IDEMPOTENCY_TTL after the lease, and never becomes a fresh claim.

Keys are the callers' own: the resources scope them (``send:<API key label>:<key>``,
``form:<form>:<fingerprint>``), so no caller can see, replay or block another's.

Two stores share that contract: SQLite under DATA_DIR (the default; WAL mode, safe across
waitress threads and across processes on one host) and Redis (IDEMPOTENCY_STORE=redis://...,
for several replicas).
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .redact import redact_url

IN_PROGRESS_LEASE = 300  # seconds, at least: far longer than any send (see open_store)
MAX_KEY_LENGTH = 256
OUTCOME_UNKNOWN = "Outcome unknown"  # the title of that answer, wherever it comes from

log = logging.getLogger(__name__)


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


def unknown_outcome(details: str, message_id: str | None = None) -> Answer:
    """The answer when the message may have been sent: 504, no Retry-After, kept for the key.

    504 because the upstream's verdict did not come back in time; a client must not read it
    as "retry": ``outcome`` says what is known, ``id`` (when known) what to look for."""
    body = {"success": False, "error": OUTCOME_UNKNOWN, "outcome": "unknown", "details": details}
    if message_id:
        body["id"] = message_id
    return Answer(504, body)


LAPSED = unknown_outcome(
    "An earlier request with this key did not finish (it was interrupted, or its outcome "
    "could not be recorded): its message may have been sent. Look for it before sending it "
    "again under a new key."
)


def fingerprint(document) -> str:
    """The request body's identity: equal JSON documents match, whatever their key order."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def remember(store, key: str, fp: str, answer: Answer) -> None:
    """Record a send's answer, trying a failing store again briefly; if it still fails, the
    claim lapses into "outcome unknown" at the end of its lease: never into a fresh claim."""
    for pause in (0.05, 0.25, None):
        try:
            store.complete(key, fp, answer)
            return
        except StoreUnavailable:
            if pause is None:
                log.exception("the idempotency store failed after the send; the key's claim "
                              "will answer 'outcome unknown' after its lease")
                return
            time.sleep(pause)


def forget(store, key: str, fp: str) -> None:
    """Free the key of a send that surely sent nothing; if the store fails, the claim lapses
    into "outcome unknown" (a retry needs a new key, but nothing is sent twice)."""
    try:
        store.release(key, fp)
    except StoreUnavailable:
        log.exception("the idempotency store failed to free a key after a failed send")


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
            # ``expires`` of a claim is the end of its lease; a lapsed one keeps a TTL more.
            db.execute(
                "UPDATE idempotency SET status = ?, body = ?, expires = expires + ?"
                " WHERE status IS NULL AND expires <= ?",
                (LAPSED.status, json.dumps(LAPSED.body), self.ttl, now),
            )
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

    def __init__(self, url: str, ttl: int, lease: int = IN_PROGRESS_LEASE,
                 clock: Callable[[], float] = time.time):
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
            if self._call(lambda: self.client.set(name, pending, nx=True, ex=self.lease + self.ttl)):
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


def open_store(settings) -> SqliteStore | RedisStore:
    """The store IDEMPOTENCY_STORE selects: empty for SQLite under DATA_DIR, else Redis."""
    # An SMTP send ends within 3 x SMTP_TIMEOUT (transports/smtp.py), a failover to a second
    # transport within as much again: the lease outlasts both, so no send still running is
    # answered as lapsed.
    lease = max(IN_PROGRESS_LEASE, round(10 * settings.smtp_timeout))
    if settings.idempotency_store:
        return RedisStore(settings.idempotency_store, settings.idempotency_ttl, lease)
    path = Path(settings.data_dir) / "idempotency.sqlite3"
    return SqliteStore(path, settings.idempotency_ttl, lease)
