"""A form submission -> the mail for the form's recipients.

The recipients come from the form's configuration only; the visitor's address (validated)
becomes Reply-To while From stays DEFAULT_FROM, so the domain's DMARC still passes. Every
submitted field appears in submission order, as text and as an HTML table, every value escaped.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from email.headerregistry import Address

import falcon

from ..config.forms import DEFAULT_SUBJECT, MAX_FIELD_NAME, Form, is_field_name
from ..mail.addresses import (
    MAX_DISPLAY_NAME,
    AddressError,
    has_unsafe_header_chars,
    parse_mailbox,
    tidy_display_name,
)
from ..mail.request import (
    SendRequest,
    attachments_too_large,
    file_name_problems,
    make_attachment,
)
from ..web.errors import ApiError
from .input import Submission

NEXT_FIELD = "_next"
TOKEN_FIELD = "_token"
MAX_SUBJECT_VALUE = 150  # characters of a visitor's value shown in the subject
# {field}, or {field|text} with the text to show when the visitor left the field empty.
_PLACEHOLDER = re.compile(r"\{(\w+)(?:\|([^{}]*))?\}")
# What an empty placeholder leaves at either end: "Contact: {name} - {topic}" -> "Contact: Ada".
_DANGLING = re.compile(r"^[\s\-\u2013\u2014:,;|/]+|[\s\-\u2013\u2014:,;|/]+$")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def is_service_field(name: str, form: Form) -> bool:
    """Fields the service reads and never mails: ``_next``, ``_token``, the honeypot, ``_*``."""
    return name.startswith("_") or name == form.honeypot


def visible_fields(form: Form, submission: Submission) -> list[tuple[str, str]]:
    return [(name, value) for name, value in submission.fields if not is_service_field(name, form)]


def _field_errors(form: Form, fields: list[tuple[str, str]], files: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, value in fields:
        if not is_field_name(name):
            errors.setdefault("(field name)", [f"1 to {MAX_FIELD_NAME} characters on one line."])
        elif form.fields and name not in form.fields:
            errors[name] = ["Unknown field."]
        elif "\x00" in value:
            errors[name] = ["Must not contain NUL characters."]
    if not files and not any(value.strip() for _, value in fields):
        errors.setdefault("form", ["The form is empty: fill in at least one field."])
    return errors


def _missing(form: Form, submission: Submission, errors: dict) -> None:
    uploaded = {upload.field for upload in submission.uploads}
    for name in form.required:
        if not submission.first(name).strip() and name not in uploaded:
            errors.setdefault(name, ["Required: please fill it in."])


def _reply_to(form: Form, submission: Submission, errors: dict, test_domains: bool) -> tuple:
    address = submission.first(form.email_field).strip()
    if not address:
        return ()
    try:
        mailbox = parse_mailbox(address, test_domains)
    except AddressError as exc:
        errors[form.email_field] = [f"Not a valid email address: {str(exc).rstrip('.')}."]
        return ()
    return (_with_visitors_name(mailbox, submission.first(form.name_field)),)


def _with_visitors_name(mailbox: Address, name: str) -> Address:
    """``Ada Lovelace <ada@example.net>``: the reply goes to a person. A name the visitor
    wrote that is no safe header text (a line break, a hidden one, over the length) is left
    out rather than refusing the message: the name is in the body all the same."""
    name = tidy_display_name(name)
    if mailbox.display_name or not name:
        return mailbox
    if len(name) > MAX_DISPLAY_NAME or has_unsafe_header_chars(name):
        return mailbox
    return Address(display_name=name, addr_spec=mailbox.addr_spec)


def _attachments(form: Form, submission: Submission, limit: int, errors: dict) -> tuple:
    attachments = []
    for upload in submission.uploads:
        if not form.attachments:
            errors[upload.field or "(file)"] = ["This form does not take files."]
            continue
        problems = file_name_problems(upload.filename)
        if problems:
            errors[upload.field or "(file)"] = [f"filename: {' '.join(problems)}"]
        attachments.append(make_attachment(upload.filename, upload.content))
    too_large = attachments_too_large(attachments, limit, "files")
    if too_large:
        errors["attachments"] = [too_large]
    return tuple(attachments)


def _subject_value(submission: Submission, field: str) -> str:
    """A visitor's value as the subject shows it: shortened, on one line."""
    return " ".join(_CONTROL.sub(" ", submission.first(field)[:MAX_SUBJECT_VALUE]).split())


def _subject_errors(form: Form, submission: Submission, errors: dict) -> None:
    # A control character is shown as a space; an encoded word hiding one cannot be (the email
    # package decodes it when the Subject is set), so the visitor is asked to correct it.
    for field in (match[1] for match in _PLACEHOLDER.finditer(form.subject)):
        if field != "form" and has_unsafe_header_chars(_subject_value(submission, field)):
            errors.setdefault(
                field,
                [
                    "Must not contain an encoded word (=?...?=) that hides a line break "
                    "or control character."
                ],
            )


def _subject(form: Form, submission: Submission) -> str:
    """The form's SUBJECT filled in: an empty field shows its ``|fallback`` or nothing, and the
    separators it leaves at either end go (docs/forms.md); nothing left: DEFAULT_SUBJECT."""
    emptied = []

    def value(match: re.Match) -> str:
        if match[1] == "form":
            return form.name
        shown = _subject_value(submission, match[1]) or (match[2] or "").strip()
        if not shown:
            emptied.append(match[1])
        return shown

    subject = " ".join(_CONTROL.sub(" ", _PLACEHOLDER.sub(value, form.subject)).split())
    if emptied:
        subject = _DANGLING.sub("", subject)
    return subject or DEFAULT_SUBJECT.format(form=form.name)


def _text(form: Form, fields: list[tuple[str, str]]) -> str:
    lines = [f"Submitted to the {form.name} form:", ""]
    for name, value in fields:
        if "\n" in value.strip():
            lines += [f"{name}:", *value.strip().splitlines(), ""]
        else:
            lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines).rstrip() + "\n"


def _html(form: Form, fields: list[tuple[str, str]]) -> str:
    rows = "".join(
        f'<tr><th align="left" valign="top">{html.escape(name)}</th>'
        f'<td style="white-space:pre-wrap">{html.escape(value.strip())}</td></tr>\n'
        for name, value in fields
    )
    return (
        f"<p>Submitted to the {html.escape(form.name)} form:</p>\n"
        f'<table cellpadding="6" border="1" style="border-collapse:collapse">\n{rows}</table>\n'
    )


def build_request(
    form: Form, submission: Submission, max_attachment_bytes: int, test_domains: bool = False
) -> SendRequest:
    """The message for ``form``'s recipients, or a 422 whose details name each field to fix.
    ``test_domains``: the visitor's address may be a special-use test address."""
    fields = visible_fields(form, submission)
    errors = _field_errors(form, fields, bool(submission.uploads))
    _subject_errors(form, submission, errors)
    _missing(form, submission, errors)
    reply_to = _reply_to(form, submission, errors, test_domains)
    attachments = _attachments(form, submission, max_attachment_bytes, errors)
    if errors:
        raise ApiError(falcon.HTTP_422, "Validation failed", errors)
    return SendRequest(
        to=form.to,
        subject=_subject(form, submission),
        text=_text(form, fields),
        html_body=_html(form, fields),
        reply_to=reply_to,
        sender_name=form.from_name or None,
        attachments=attachments,
        tags=(f"form:{form.name}",),
    )


def submission_fingerprint(form: Form, client: str, submission: Submission) -> str:
    """Equal for the same form, client, fields and files: a resubmission is sent once."""
    files = [
        (u.field, u.filename, hashlib.sha256(u.content).hexdigest()) for u in submission.uploads
    ]
    fields = [pair for pair in submission.fields if pair[0] not in (NEXT_FIELD, TOKEN_FIELD)]
    document = [form.name, client, fields, files]
    return hashlib.sha256(json.dumps(document).encode()).hexdigest()
