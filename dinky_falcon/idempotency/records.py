"""Idempotency records: the answers a store keeps, how a claim is judged, and the
helpers that record a send's outcome whatever the store."""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from dataclasses import dataclass

from ..errors import StoreUnavailable

IN_PROGRESS_LEASE = 300  # seconds, at least: far longer than any send (see open_store)
MAX_KEY_LENGTH = 256
OUTCOME_UNKNOWN = "Outcome unknown"  # the title of that answer, wherever it comes from

log = logging.getLogger(__name__)


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


def sent_body(message_id: str, transport: str) -> dict:
    """The body of a 200: the transport accepted the message."""
    return {
        "success": True,
        "message": "Email sent successfully",
        "id": message_id,
        "transport": transport,
    }


def sent_answer(delivery) -> Answer:
    """The answer to a send the transport accepted (``delivery``: the Mailer's Delivery)."""
    body = sent_body(delivery.message_id, delivery.transport)
    if delivery.queue_id:  # to follow the message into the upstream's log
        body["queue_id"] = delivery.queue_id
    return Answer(200, body)


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
                log.exception(
                    "the idempotency store failed after the send; the key's claim "
                    "will answer 'outcome unknown' after its lease"
                )
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
