"""What a visitor submitted to a form, as (name, value) pairs in submission order.

Three encodings arrive: ``application/x-www-form-urlencoded`` (a plain HTML form),
``multipart/form-data`` (a form with a file input, or ``fetch`` with FormData) and JSON (an
object of strings, or of lists of strings for repeated fields). Every one is bounded by
MAX_BODY_SIZE before it is parsed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import falcon
from falcon.media.multipart import MultipartFormHandler

from ..web.body import read_bounded, read_json
from ..web.errors import ApiError

MAX_FIELDS = 100


@dataclass(frozen=True)
class Upload:
    """A file from a file input: the field's name, the visitor's file name, its bytes."""

    field: str
    filename: str
    content: bytes = field(repr=False)


@dataclass
class Submission:
    """The submitted fields in order (a name may repeat: checkboxes) and the uploaded files."""

    fields: list[tuple[str, str]]
    uploads: list[Upload]

    def first(self, name: str) -> str:
        """The first value of ``name``, or "" when it was not submitted."""
        return next((value for key, value in self.fields if key == name), "")


def _malformed(details: str) -> ApiError:
    return ApiError(falcon.HTTP_400, "Malformed form", details)


def _urlencoded(raw: bytes) -> Submission:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            encoding="utf-8",
            errors="strict",
        )
    except UnicodeDecodeError:
        raise _malformed('The form is not UTF-8: add accept-charset="utf-8" to it.') from None
    except ValueError:
        raise _malformed(f"The form has more than {MAX_FIELDS} fields.") from None
    return Submission(pairs, [])


def _multipart(raw: bytes, content_type: str, limit: int) -> Submission:
    handler = MultipartFormHandler()
    handler.parse_options.max_body_part_count = MAX_FIELDS
    handler.parse_options.max_body_part_buffer_size = limit
    submission = Submission([], [])
    try:
        for part in handler.deserialize(io.BytesIO(raw), content_type, len(raw)):
            name = part.name or ""
            if part.filename is None:
                submission.fields.append((name, part.get_text() or ""))
            elif part.filename or part.get_data():  # no file chosen: empty name, no bytes
                submission.uploads.append(Upload(name, part.filename, part.get_data()))
    except falcon.MediaMalformedError as error:
        raise _malformed(error.description or "The multipart body cannot be read.") from None
    return submission


def _json(document) -> Submission:
    if not isinstance(document, dict):
        raise _malformed("Send the form's fields as a JSON object.")
    pairs = []
    for name, value in document.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in values):
            raise ApiError(
                falcon.HTTP_422, "Validation failed", {name: ["A string or a list of strings."]}
            )
        pairs += [(name, item) for item in values]
    if len(pairs) > MAX_FIELDS:
        raise _malformed(f"The form has more than {MAX_FIELDS} fields.")
    return Submission(pairs, [])


def read_submission(req: falcon.Request, limit: int) -> Submission:
    """The submission in the request body, or the 400/413/415/422 that says why not."""
    mimetype = (req.content_type or "").split(";", 1)[0].strip().lower()
    if mimetype == falcon.MEDIA_URLENCODED:
        return _urlencoded(read_bounded(req, limit))
    if mimetype == falcon.MEDIA_MULTIPART:
        return _multipart(read_bounded(req, limit), req.content_type, limit)
    if mimetype == falcon.MEDIA_JSON:
        return _json(read_json(req, limit))
    raise ApiError(
        falcon.HTTP_415,
        "Unsupported media type",
        "Post the form as application/x-www-form-urlencoded, multipart/form-data or JSON.",
    )
