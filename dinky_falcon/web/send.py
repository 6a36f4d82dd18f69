"""``POST /send``: a JSON request, validated by the schemas, sent once per Idempotency-Key."""

from __future__ import annotations

import logging

import falcon

from ..errors import OutcomeUnknown
from ..guard.policy import MailPolicy
from ..idempotency import (
    MAX_KEY_LENGTH,
    Answer,
    Outcome,
    fingerprint,
    send_once,
    sent_answer,
    unknown_outcome,
)
from ..mailer import Mailer
from ..message_log import replayed
from .body import IDEMPOTENCY_HEADER, REPLAYED_HEADER, read_json
from .errors import ApiError
from .plain_send import plain_request
from .schemas import SendSchema

log = logging.getLogger(__name__)


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


def scoped_key(api_key, key: str) -> str:
    """The store's key for an Idempotency-Key: each API key has its own (labels have no
    ``:``), so no caller can see, replay or pre-claim another's; forms use ``form:``."""
    return f"send:{api_key.label if api_key is not None else ''}:{key}"


class SendResource:
    def __init__(
        self,
        mailer: Mailer,
        schema: SendSchema,
        max_body_size: int,
        policy: MailPolicy,
        idempotency,
    ):
        self.mailer = mailer
        self.schema = schema
        self.max_body_size = max_body_size
        self.policy = policy
        self.idempotency = idempotency  # a store from idempotency.open_store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = idempotency_key(req)
        document = read_json(req, self.max_body_size)
        # The seed's plain shape without marshmallow's machinery; anything else, and every
        # error, through the schema.
        request = plain_request(document, self.schema) or self.schema.load(document)
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
        claim = send_once(self.idempotency, key, fp, lambda: self.send(request, api_key))
        if claim.outcome is Outcome.REPLAY:
            resp.set_header(REPLAYED_HEADER, "true")
            self.mailer.report(replayed(claim.answer, request, key=_label(api_key)))
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
        return claim.answer

    def send(self, request, api_key) -> Answer:
        """200, or 504 when the upstream had the message and its verdict was lost (no
        Retry-After: a retry could send a second copy); any other failure raises."""
        try:
            delivery = self.mailer.send(
                request, check=lambda env: self.policy.check(env, api_key), key=_label(api_key)
            )
        except OutcomeUnknown as exc:
            return unknown_outcome(str(exc), exc.message_id)
        return sent_answer(delivery)


def _label(api_key) -> str | None:
    """The key's label for the message's log line (None: no API_KEYS)."""
    return api_key.label if api_key is not None else None
