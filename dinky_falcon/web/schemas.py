"""marshmallow schemas for the request bodies of the HTTP API."""

from __future__ import annotations

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from ..mail.request import (
    MAX_FILE_NAME_LENGTH,
    Attachment,
    SendRequest,
    attachments_too_large,
    make_attachment,
)
from .fields import (
    CONTENT_ID,
    FILE_NAME_PATTERN,
    HEADER_NAME_PATTERN,
    MAX_NAME_LENGTH,
    MIME_TYPE,
    NO_NUL_PATTERN,
    SINGLE_LINE_PATTERN,
    TAG,
    Base64Bytes,
    HeaderText,
    HtmlOrFlag,
    Mailbox,
    MailboxList,
    file_name,
    header_name,
    leaf_type,
    single_line,
)

MAX_SUBJECT_LENGTH = 998  # RFC 5322's line limit; the email package folds longer lines anyway
MAX_HEADER_VALUE_LENGTH = 998
MAX_HEADERS = 20
MAX_TAGS = 10
MAX_REPLY_TO = 10
RECIPIENT_FIELDS = ("to", "cc", "bcc")


def _items(value, container: type = list) -> int:
    """How many items a raw field value holds: a ``container``'s length, else one (an
    address given alone), none when absent."""
    if value is None:
        return 0
    return len(value) if isinstance(value, container) else 1


def no_nul(value: str) -> None:
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")


class AttachmentSchema(Schema):
    """One attachment: base64 content, a bare file name, and optionally its type and Content-ID."""

    filename = fields.String(
        required=True,
        validate=file_name,
        metadata={"pattern": FILE_NAME_PATTERN, "minLength": 1, "maxLength": MAX_FILE_NAME_LENGTH},
    )
    content = Base64Bytes(required=True, metadata={"format": "byte", "description": "base64"})
    content_type = fields.String(
        validate=[MIME_TYPE, leaf_type],
        metadata={"description": "default: guessed from the file name"},
    )
    content_id = fields.String(
        validate=CONTENT_ID,
        metadata={
            "description": "makes the part inline: the HTML refers to it as cid:<content_id>"
        },
    )

    @post_load
    def make_attachment(self, data, **kwargs) -> Attachment:
        return make_attachment(**data)


class SendSchema(Schema):
    """``POST /send``: the seed's fields and the additive ones; unknown fields are refused by name."""

    to = MailboxList(required=True)
    cc = MailboxList()
    bcc = MailboxList(metadata={"description": "envelope only: never in a header"})
    subject = HeaderText(
        required=True,
        validate=validate.Length(min=1, max=MAX_SUBJECT_LENGTH),
        metadata={"pattern": SINGLE_LINE_PATTERN},
    )
    body = fields.String(validate=no_nul, metadata={"pattern": NO_NUL_PATTERN})
    text = fields.String(validate=no_nul, metadata={"pattern": NO_NUL_PATTERN})
    html = HtmlOrFlag()
    from_ = Mailbox(data_key="from")
    sender_name = fields.String(
        validate=[validate.Length(min=1, max=MAX_NAME_LENGTH), single_line],
        metadata={"pattern": SINGLE_LINE_PATTERN},
    )
    reply_to = MailboxList(metadata={"description": f"at most {MAX_REPLY_TO} addresses"})
    attachments = fields.List(fields.Nested(AttachmentSchema))
    headers = fields.Dict(
        keys=fields.String(validate=header_name),
        values=fields.String(
            validate=[validate.Length(max=MAX_HEADER_VALUE_LENGTH), single_line],
            metadata={"pattern": SINGLE_LINE_PATTERN},
        ),
        metadata={
            "maxProperties": MAX_HEADERS,
            "jsonschema": {"propertyNames": {"pattern": HEADER_NAME_PATTERN}},
            "description": "names ignore case (the same name twice is a 422); X-* and List-*, "
            "In-Reply-To, References, Precedence, "
            "Auto-Submitted, Organization, Keywords, Comments, Importance, Priority",
        },
    )
    tags = fields.List(fields.String(validate=TAG), metadata={"maxItems": MAX_TAGS})

    def __init__(
        self,
        *,
        max_recipients: int = 50,
        max_attachment_bytes: int = 10 << 20,
        max_attachments: int = 20,
        test_domains: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.test_domains = test_domains  # read by the Mailbox fields
        self.max_recipients = max_recipients
        self.max_attachment_bytes = max_attachment_bytes
        self.max_attachments = max_attachments

    @pre_load
    def counts_first(self, data, **kwargs):
        """Every count limit, on the raw document before any item is parsed: parsing a
        hostile address and building an attachment are each slow (bench/RESULTS.md), and a
        body of MAX_BODY_SIZE holds tens of thousands of either."""
        if not isinstance(data, dict):
            return data  # the schema's own "Invalid input type." follows
        counts = {name: _items(data[name]) for name in RECIPIENT_FIELDS if _items(data.get(name))}
        total = sum(counts.values())
        if total > self.max_recipients:
            where = " in to, cc and bcc" if len(counts) > 1 else ""
            raise ValidationError(
                f"{total} recipients{where}; at most {self.max_recipients} are allowed.",
                list(counts)[-1],
            )
        for name, limit, what, container in (
            ("reply_to", MAX_REPLY_TO, "addresses", list),
            ("attachments", self.max_attachments, "attachments", list),
            ("tags", MAX_TAGS, "tags", list),
            ("headers", MAX_HEADERS, "headers", dict),
        ):
            count = _items(data.get(name), container)
            if count > limit:
                raise ValidationError(f"{count} {what}; at most {limit} are allowed.", name)
        return data

    @validates_schema
    def one_set_of_bodies(self, data, **kwargs):
        html = data.get("html")
        if "body" in data:
            if isinstance(html, str):
                raise ValidationError(
                    "With 'body', 'html' is a boolean (true: body is HTML); "
                    "for two bodies give 'text' and 'html'.",
                    "html",
                )
            if "text" in data:
                raise ValidationError("Give either 'body' or 'text', not both.", "text")
        elif html is True:
            raise ValidationError(
                "'html': true says 'body' is HTML; give the HTML as 'html'.", "html"
            )
        elif "text" not in data and not isinstance(html, str):
            raise ValidationError("Missing data for required field.", "body")

    @validates_schema
    def sender_choice(self, data, **kwargs):
        if data.get("from_") and "sender_name" in data:
            raise ValidationError(
                "sender_name names DEFAULT_FROM; with 'from', give the name there.", "sender_name"
            )

    @validates_schema
    def attachment_rules(self, data, **kwargs):
        attachments = data.get("attachments") or ()
        too_large = attachments_too_large(attachments, self.max_attachment_bytes)
        if too_large:
            raise ValidationError(too_large, "attachments")
        content_ids = [a.content_id for a in attachments if a.content_id]
        if len(set(content_ids)) != len(content_ids):
            raise ValidationError("Each content_id must be unique.", "attachments")
        has_html = isinstance(data.get("html"), str) or (data.get("html") and "body" in data)
        if content_ids and not has_html:
            raise ValidationError(
                "content_id makes an inline part of the HTML body: give 'html'.", "attachments"
            )

    @validates_schema
    def distinct_header_names(self, data, **kwargs):
        names = [name.lower() for name in data.get("headers") or ()]
        if len(set(names)) != len(names):
            raise ValidationError("A header name is given twice (names ignore case).", "headers")

    @post_load
    def make_request(self, data, **kwargs) -> SendRequest:
        html = data.pop("html", False)
        if isinstance(html, str):
            data["html_body"] = html
        else:
            data["html"] = html
        for name in ("attachments", "tags"):
            data[name] = tuple(data.get(name) or ())
        data["headers"] = tuple((data.get("headers") or {}).items())
        return SendRequest(**data)
