"""The HTTP resources. Validation lives in the schemas, error bodies in http_errors."""

from __future__ import annotations

import json
import logging
import re

import falcon

from .http_errors import ApiError
from .idempotency import MAX_KEY_LENGTH, Answer, Outcome, StoreUnavailable, fingerprint
from .mailer import Mailer
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
            resp.media = self.send(request, api_key)
        else:
            self.send_once(key, fp, request, api_key, resp)

    def send_once(self, key: str, fp: str, request, api_key, resp: falcon.Response) -> None:
        """Send under an Idempotency-Key: replay, refuse (422/409), or send and remember."""
        claim = self.idempotency.claim(key, fp)
        if claim.outcome is Outcome.REPLAY:
            resp.status = falcon.code_to_http_status(claim.answer.status)
            resp.media = claim.answer.body
            resp.set_header(REPLAYED_HEADER, "true")
        elif claim.outcome is Outcome.MISMATCH:
            raise ApiError(
                falcon.HTTP_422,
                "Idempotency-Key reused",
                "This Idempotency-Key was used with a different request body: use a new key.",
            )
        elif claim.outcome is Outcome.IN_PROGRESS:
            raise ApiError(
                falcon.HTTP_409,
                "Request in progress",
                "A request with this Idempotency-Key is still being processed: retry later.",
            )
        else:
            try:
                body = self.send(request, api_key)
            except BaseException:
                # Nothing was sent: a retry may send. The caller is told of the send's error.
                self.settle(self.idempotency.release, key, fp)
                raise
            self.settle(self.idempotency.complete, key, fp, Answer(200, body))
            resp.media = body

    @staticmethod
    def settle(step, *args) -> None:
        # After the send, the send's outcome is the answer: a store failure is only logged
        # (the key then stays claimed until its lease ends).
        try:
            step(*args)
        except StoreUnavailable:
            log.exception("the idempotency store failed after the send")

    def send(self, request, api_key) -> dict:
        delivery = self.mailer.send(request, check=lambda env: self.policy.check(env, api_key))
        return {
            "success": True,
            "message": "Email sent successfully",
            "id": delivery.message_id,
            "transport": delivery.transport,
        }


class HealthResource:
    """Liveness: cheap, no upstream call."""

    def __init__(self, transport: str, plugin: str):
        self.body = {"status": "ok", "transport": transport, "plugin": plugin}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.body


class ReadinessResource:
    """Readiness: each selected transport really talks to its upstream (connect, TLS, AUTH)."""

    def __init__(self, mailer: Mailer):
        self.mailer = mailer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        transports = self.mailer.check()
        failed = [t for t in transports if not t["ready"]]
        if not failed:
            resp.media = {"status": "ok", "transports": transports}
            return
        if len(failed) < len(transports):
            # Failover still delivers, but whoever watches this should know.
            resp.media = {"status": "degraded", "transports": transports}
            return
        resp.status = falcon.HTTP_503
        resp.media = {
            "success": False,
            "error": "Mail transport not ready",
            "details": "; ".join(f"{t['name']}: {t['details']}" for t in failed),
            "status": "unavailable",
            "transports": transports,
        }
