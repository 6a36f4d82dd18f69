"""The SQLite store (the default): one table under DATA_DIR, WAL mode, one connection per
thread; safe across waitress threads and across processes on one host."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from .records import IN_PROGRESS_LEASE, LAPSED, Answer, Claim, Outcome, StoreUnavailable, _judge


class SqliteStore:
    """One table in ``<DATA_DIR>/idempotency.sqlite3``; one connection per thread."""

    def __init__(
        self,
        path: Path,
        ttl: int,
        lease: int = IN_PROGRESS_LEASE,
        clock: Callable[[], float] = time.time,
    ):
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
                db.execute(
                    "CREATE INDEX IF NOT EXISTS idempotency_expires ON idempotency (expires)"
                )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"DATA_DIR={str(path.parent)!r}: cannot keep idempotency keys there ({exc})"
            ) from None

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
