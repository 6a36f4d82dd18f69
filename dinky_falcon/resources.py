"""The HTTP resources. Validation lives in the schemas, error bodies in http_errors."""

from __future__ import annotations

import json
import logging
import re

import falcon

from .errors import OutcomeUnknown
from .http_errors import ApiError
from .idempotency import (
    MAX_KEY_LENGTH,
    Answer,
    Outcome,
    StoreUnavailable,
    fingerprint,
    forget,
    remember,
    unknown_outcome,
)
from .mailer import Delivery, Mailer
from .message_log import MessageEvent
from .policy import MailPolicy
from .schemas import SendSchema

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

log = logging.getLogger(__name__)


# A \uD800-\uDFFF escape: JSON allows it unpaired, but no mail can carry a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _has_lone_surrogate(document) -> bool:
    pending = [document]  # a loop, not recursion: the document may be nested ~1000 deep
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, dict):
            pending += [*value.keys(), *value.values()]
        elif isinstance(value, list):
            pending += value
    return False


def _reject_duplicate_keys(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def read_bounded(req: falcon.Request, limit: int) -> bytes:
    """The request body, never more than ``limit`` bytes read; a 413 when it is longer."""
    too_large = ApiError(
        falcon.HTTP_413, "Payload too large", f"The request body is over {limit} bytes."
    )
    if req.content_length is not None and req.content_length > limit:
        raise too_large
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    return raw


def read_json(req: falcon.Request, limit: int):
    """The request body as JSON, or the 415/413/400 that explains why not."""
    mimetype = (req.content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != falcon.MEDIA_JSON:
        raise ApiError(
            falcon.HTTP_415,
            "Unsupported media type",
            "Send the message as JSON with 'Content-Type: application/json'.",
        )
    raw = read_bounded(req, limit)
    try:
        document = json.loads(raw, object_pairs_hook=_reject_duplicate_keys)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(falcon.HTTP_400, "Malformed JSON", f"The body is not valid JSON: {reason}.")
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(document):
        raise ApiError(
            falcon.HTTP_400,
            "Malformed JSON",
            "The body is not valid JSON: an unpaired \\uD800-\\uDFFF escape (one without its pair) "
            "is no character.",
        )
    return document


def idempotency_key(req: falcon.Request) -> str | None:
    """The Idempotency-Key header, or None; a 422 when it is empty, too long or not ASCII."""
    key = req.get_header(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise ApiError(
            falcon.HTTP_422,
            "Validation failed",
            {IDEMPOTENCY_HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]},
        )
    return key


def sent_answer(delivery: Delivery) -> Answer:
    body = {
        "success": True,
        "message": "Email sent successfully",
        "id": delivery.message_id,
        "transport": delivery.transport,
    }
    if delivery.queue_id:  # to follow the message into the upstream's log
        body["queue_id"] = delivery.queue_id
    return Answer(200, body)


def replayed(answer: Answer, request, **caller) -> MessageEvent:
    """The event of a request answered from the idempotency store: nothing sent again."""
    recipients = len(request.to) + len(request.cc) + len(request.bcc)
    body = answer.body
    return MessageEvent("duplicate", body.get("id"), body.get("transport"), recipients,
                        queue_id=body.get("queue_id"), **caller)


def scoped_key(api_key, key: str) -> str:
    """The store's key for an Idempotency-Key: each API key has its own (labels have no
    ``:``), so no caller can see, replay or pre-claim another's; forms use ``form:``."""
    return f"send:{api_key.label if api_key is not None else ''}:{key}"


class SendResource:
    def __init__(
        self, mailer: Mailer, schema: SendSchema, max_body_size: int, policy: MailPolicy, idempotency
    ):
        self.mailer = mailer
        self.schema = schema
        self.max_body_size = max_body_size
        self.policy = policy
        self.idempotency = idempotency  # a store from idempotency.open_store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = idempotency_key(req)
        document = read_json(req, self.max_body_size)
        request = self.schema.load(document)
        fp = fingerprint(document) if key is not None else None
        del document  # its base64 text is as large as the body: not kept during the send
        api_key = req.context.api_key
        if key is None:
            answer = self.send(request, api_key)
        else:
            answer = self.send_once(scoped_key(api_key, key), fp, request, api_key, resp)
        resp.status = falcon.code_to_http_status(answer.status)
        resp.media = answer.body

    def send_once(self, key: str, fp: str, request, api_key, resp: falcon.Response) -> Answer:
        """Send under an Idempotency-Key: replay, refuse (422/409), or send and remember."""
        claim = self.idempotency.claim(key, fp)
        if claim.outcome is Outcome.REPLAY:
            resp.set_header(REPLAYED_HEADER, "true")
            self.mailer.report(replayed(claim.answer, request, key=api_key and api_key.label))
            return claim.answer
        if claim.outcome is Outcome.MISMATCH:
            raise ApiError(
                falcon.HTTP_422,
                "Idempotency-Key reused",
                "This Idempotency-Key was used with a different request body: use a new key.",
            )
        if claim.outcome is Outcome.IN_PROGRESS:
            raise ApiError(
                falcon.HTTP_409,
                "Request in progress",
                "A request with this Idempotency-Key is still being processed: retry later.",
            )
        try:
            answer = self.send(request, api_key)
        except BaseException:
            forget(self.idempotency, key, fp)  # nothing was sent: a retry may send
            raise
        remember(self.idempotency, key, fp, answer)  # sent, or maybe: never sent again
        return answer

    def send(self, request, api_key) -> Answer:
        """200, or 504 when the upstream had the message and its verdict was lost (no
        Retry-After: a retry could send a second copy); any other failure raises."""
        try:
            delivery = self.mailer.send(
                request,
                check=lambda env: self.policy.check(env, api_key),
                key=api_key.label if api_key is not None else None,
            )
        except OutcomeUnknown as exc:
            return unknown_outcome(str(exc), exc.message_id)
        return sent_answer(delivery)


class HealthResource:
    """Liveness: cheap, no upstream call."""

    def __init__(self, transport: str, plugin: str):
        self.body = {"status": "ok", "transport": transport, "plugin": plugin}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.body


class ReadinessResource:
    """Readiness: each selected transport really talks to its upstream (connect, TLS, AUTH),
    and the idempotency store answers."""

    def __init__(self, mailer: Mailer, idempotency):
        self.mailer = mailer
        self.idempotency = idempotency

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        transports = self.mailer.check()
        stores = [self.store_readiness()]
        failed = [t for t in transports if not t["ready"]]
        store_failed = [s for s in stores if not s["ready"]]
        if not failed and not store_failed:
            resp.media = {"status": "ok", "transports": transports, "stores": stores}
            return
        if not store_failed and len(failed) < len(transports):
            # Failover still delivers, but whoever watches this should know.
            resp.media = {"status": "degraded", "transports": transports, "stores": stores}
            return
        resp.status = falcon.HTTP_503
        resp.media = {
            "success": False,
            "error": "Mail transport not ready" if failed else "Idempotency store not ready",
            "details": "; ".join(f"{t['name']}: {t['details']}" for t in failed + store_failed),
            "status": "unavailable",
            "transports": transports,
            "stores": stores,
        }

    def store_readiness(self) -> dict:
        # Without its store, no request with an Idempotency-Key can be answered: not ready.
        location = self.idempotency.location  # a URL's password is never part of it
        try:
            self.idempotency.check()
        except StoreUnavailable as exc:
            return {"name": "idempotency", "ready": False, "details": f"{location}: {exc}"}
        return {"name": "idempotency", "ready": True, "details": location}
