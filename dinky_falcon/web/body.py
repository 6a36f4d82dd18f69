"""Request readers: the body (bounded, never more than its limit read), JSON (strict: no
duplicate keys, no lone surrogates), and the names of the idempotency headers."""

from __future__ import annotations

import json
import re

import falcon

from .errors import ApiError

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


# A \uD800-\uDFFF escape: JSON allows it unpaired, but no mail can carry a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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
    obj = dict(pairs)
    if len(obj) < len(pairs):  # a key came twice: dict() kept its last value only
        seen = set()
        key = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {key!r}")
    return obj


# One decoder for every request, as json.loads keeps one for calls without options: a
# json.loads(text, object_pairs_hook=...) builds a decoder and its scanner each time, which
# cost more than decoding the seed's body.
_STRICT = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys)


def read_bounded(req: falcon.Request, limit: int) -> bytes:
    """The request body, never more than ``limit`` bytes read; a 413 when it is longer."""
    if req.content_length is not None and req.content_length > limit:
        raise _too_large(limit)
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(limit)
    return raw


def _too_large(limit: int) -> ApiError:
    return ApiError(
        falcon.HTTP_413, "Payload too large", f"The request body is over {limit} bytes."
    )


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
        # Decoded as json.loads decodes bytes, but here, so that the bytes are let go before
        # the document is made: a body is in memory at most twice at once, not three times.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        del raw
        document = _STRICT.decode(text)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(
            falcon.HTTP_400, "Malformed JSON", f"The body is not valid JSON: {reason}."
        ) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        raise ApiError(
            falcon.HTTP_400,
            "Malformed JSON",
            "The body is not valid JSON: an unpaired \\uD800-\\uDFFF escape (one without its pair) "
            "is no character.",
        )
    return document
