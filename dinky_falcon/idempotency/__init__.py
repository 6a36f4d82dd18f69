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

import time
from collections.abc import Callable
from pathlib import Path

from .records import (
    IN_PROGRESS_LEASE,
    LAPSED,
    MAX_KEY_LENGTH,
    OUTCOME_UNKNOWN,
    Answer,
    Claim,
    Outcome,
    StoreUnavailable,
    fingerprint,
    forget,
    remember,
    sent_answer,
    sent_body,
    unknown_outcome,
)
from .redis_store import RedisStore
from .sqlite_store import SqliteStore

__all__ = [
    "IN_PROGRESS_LEASE",
    "LAPSED",
    "MAX_KEY_LENGTH",
    "OUTCOME_UNKNOWN",
    "Answer",
    "Claim",
    "Outcome",
    "RedisStore",
    "SqliteStore",
    "StoreUnavailable",
    "fingerprint",
    "forget",
    "open_store",
    "remember",
    "send_once",
    "sent_answer",
    "sent_body",
    "unknown_outcome",
]


def send_once(store, key: str, fp: str, send: Callable[[], Answer], wait: float = 0.0) -> Claim:
    """Claim ``key`` and, when this request owns it, ``send()`` and remember its answer: the
    claim, with ``answer`` set on STARTED (this send's) and REPLAY (the earlier one's).

    ``send`` raising frees the key (nothing was sent: a retry may send). While another request
    holds the key, claiming is retried for ``wait`` seconds, then IN_PROGRESS is returned."""
    deadline = time.monotonic() + wait
    claim = store.claim(key, fp)
    while claim.outcome is Outcome.IN_PROGRESS and time.monotonic() < deadline:
        time.sleep(0.05)
        claim = store.claim(key, fp)
    if claim.outcome is not Outcome.STARTED:
        return claim
    try:
        answer = send()
    except BaseException:
        forget(store, key, fp)
        raise
    remember(store, key, fp, answer)  # sent, or maybe: never sent again
    return Claim(Outcome.STARTED, answer)


def open_store(settings) -> SqliteStore | RedisStore:
    """The store IDEMPOTENCY_STORE selects: empty for SQLite under DATA_DIR, else Redis."""
    # An SMTP send ends within 3 x SMTP_TIMEOUT (transports/smtp_endpoint.py), a failover to a second
    # transport within as much again: the lease outlasts both, so no send still running is
    # answered as lapsed.
    lease = max(IN_PROGRESS_LEASE, round(10 * settings.smtp_timeout))
    if settings.idempotency_store:
        return RedisStore(settings.idempotency_store, settings.idempotency_ttl, lease)
    path = Path(settings.data_dir) / "idempotency.sqlite3"
    return SqliteStore(path, settings.idempotency_ttl, lease)
