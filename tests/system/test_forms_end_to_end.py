"""Contact forms through ``dinky-mail serve`` (waitress on loopback): plain HTML posts, uploads,
the honeypot, open-redirect attempts and duplicate submissions, to the file sink and to SMTP."""

import json

import pytest

from support.form_client import JSON, multipart, request, submit, urlencoded
from support.samples import parse_mail
from support.service_process import ServiceProcess

SITE = "https://www.example.org"
CONTACT = {
    "ENVIRONMENT": "development",
    "MAIL_DOMAIN": "example.org",
    "DEFAULT_FROM": "Website <noreply@example.org>",
    "ALLOWED_HOSTS": "www.example.org",
    "FORM_CONTACT_TO": "Team <team@example.org>, sales@example.org",
    "FORM_CONTACT_SUBJECT": "New message from {name}",
    "FORM_CONTACT_REDIRECT": f"{SITE}/thanks.html",
    "FORM_CONTACT_ATTACHMENTS": "yes",
}
VISITOR = [
    ("name", "Ada <script>alert(1)</script>"),
    ("email", "Ada Lovelace <ada@example.net>"),
    ("to", "victim@example.com"),  # only a field like any other: recipients are the server's
    ("message", "Hello,\nI'd like a quote & a <b>demo</b>."),
]


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(**variables) -> ServiceProcess:
        env = {
            **CONTACT,
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "DATA_DIR": str(tmp_path / "data"),
            **variables,
        }
        service = ServiceProcess(env, cwd=tmp_path).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def outbox(tmp_path):
    return sorted((tmp_path / "outbox").glob("*.eml"))


def envelope_of(eml):
    return json.loads(eml.with_name(eml.name.removesuffix(".eml") + ".envelope.json").read_text())


@pytest.mark.parametrize("encode", [urlencoded, multipart], ids=["urlencoded", "multipart"])
def test_a_plain_html_post_is_mailed_to_the_configured_recipients_and_redirects(
    serve, tmp_path, encode
):
    service = serve()
    answer = submit(service.port, "contact", encode(VISITOR))
    assert answer.status == 303
    assert answer.headers["Location"] == f"{SITE}/thanks.html"
    (eml,) = outbox(tmp_path)
    message = parse_mail(eml.read_bytes())
    assert envelope_of(eml)["recipients"] == ["team@example.org", "sales@example.org"]
    assert message["To"] == "Team <team@example.org>, sales@example.org"
    assert message["From"] == "Website <noreply@example.org>"
    assert message["Reply-To"] == "Ada Lovelace <ada@example.net>"
    assert message["Subject"] == "New message from Ada <script>alert(1)</script>"
    text = message.get_body(("plain",)).get_content()
    assert (
        text.index("name: Ada")
        < text.index("email: ")
        < text.index("to: ")
        < text.index("message:")
    )
    assert "I'd like a quote & a <b>demo</b>." in text
    page = message.get_body(("html",)).get_content()
    assert "<script>" not in page and "<b>demo" not in page
    assert "Ada &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a quote &amp; a &lt;b&gt;demo&lt;/b&gt;." in page


def test_a_multipart_post_with_a_file_reaches_an_smtp_server_with_the_file_attached(
    serve, smtp_server
):
    service = serve(
        MAIL_TRANSPORT="postfix", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp_server.port)
    )
    files = [
        ("cv", "cv.pdf", "application/pdf", b"%PDF-1.4 tiny"),
        ("photo", "", "application/octet-stream", b""),
    ]  # a file input left empty
    answer = submit(service.port, "contact", multipart(VISITOR, files), JSON)
    assert answer.status == 200
    assert answer.json["success"] is True
    (received,) = smtp_server.messages
    assert received.rcpt_tos == ("team@example.org", "sales@example.org")
    assert received.mail_from == "noreply@example.org"
    message = parse_mail(received.data)
    assert message["Message-ID"] == answer.json["id"]
    assert message["Reply-To"] == "Ada Lovelace <ada@example.net>"
    (attachment,) = message.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("cv.pdf", b"%PDF-1.4 tiny")
    page = message.get_body(("html",)).get_content()
    assert "Ada &lt;script&gt;" in page and "victim@example.com" in page


def test_a_filled_honeypot_is_answered_as_sent_and_nothing_is_sent(serve, tmp_path):
    service = serve()
    answer = submit(
        service.port, "contact", urlencoded([*VISITOR, ("_gotcha", "http://spam.test")])
    )
    assert (answer.status, answer.headers["Location"]) == (303, f"{SITE}/thanks.html")
    as_json = submit(service.port, "contact", urlencoded([*VISITOR, ("_gotcha", "x")]), JSON)
    assert as_json.status == 200 and as_json.json["success"] is True and as_json.json["id"]
    assert outbox(tmp_path) == []
    service.stop()
    assert any("honeypot" in line and "nothing sent" in line for line in service.log)


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.test/phish",
        "//evil.test/phish",
        "javascript:alert(document.cookie)",
        "https://www.example.org@evil.test/",
        "https://www.example.org\\@evil.test/",
        "https://www.example.org.evil.test/",
        "http://www.example.org:99999/",
        " https://evil.test/",
    ],
)
def test_next_outside_allowed_hosts_never_redirects_there(serve, tmp_path, next_url):
    service = serve()
    answer = submit(service.port, "contact", urlencoded([*VISITOR, ("_next", next_url)]))
    assert answer.status == 303
    assert answer.headers["Location"] == f"{SITE}/thanks.html"
    assert len(outbox(tmp_path)) == 1


def test_next_on_an_allowed_host_is_followed_and_without_a_redirect_the_service_thanks(
    serve, tmp_path
):
    service = serve(FORM_CONTACT_REDIRECT="")
    answer = submit(service.port, "contact", urlencoded([*VISITOR, ("_next", f"{SITE}/merci")]))
    assert answer.headers["Location"] == f"{SITE}/merci"
    answer = submit(service.port, "contact", urlencoded([("message", "no next")]))
    assert (answer.status, answer.headers["Location"]) == (303, "/forms/contact/thanks")
    thanks = request(service.port, "GET", answer.headers["Location"])
    assert thanks.status == 200
    assert "Thank you" in thanks.body.decode()


def test_a_duplicate_submission_is_sent_once_and_answered_alike(serve, tmp_path):
    # In production: development says it was a duplicate (tests/http/test_forms_duplicates.py).
    service = serve(ENVIRONMENT="production", MAIL_TRANSPORT="file", RATE_LIMIT="none")
    first = submit(service.port, "contact", urlencoded(VISITOR), JSON)
    again = submit(service.port, "contact", urlencoded(VISITOR), JSON)
    assert first.json == again.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(outbox(tmp_path)) == 1
    changed = submit(service.port, "contact", urlencoded([*VISITOR[:3], ("message", "Also...")]))
    assert changed.status == 303
    assert len(outbox(tmp_path)) == 2


def test_errors_list_what_to_fix_for_a_browser_and_keep_the_json_shape_for_fetch(serve, tmp_path):
    service = serve()
    bad = urlencoded([("name", "<i>Bob</i>"), ("email", "not-an-address<b>")])
    page = submit(service.port, "contact", bad)
    assert page.status == 422
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert "<strong>email</strong>" in text and "Not a valid email address" in text
    assert "not-an-address<b>" not in text
    as_json = submit(service.port, "contact", bad, JSON)
    assert as_json.status == 422
    assert as_json.json["success"] is False
    assert as_json.json["error"] == "Validation failed"
    assert list(as_json.json["details"]) == ["email"]
    unknown = submit(service.port, "nope", urlencoded(VISITOR), JSON)
    assert (unknown.status, unknown.json["error"]) == (404, "Form not found")
    assert outbox(tmp_path) == []


def test_an_error_redirect_sends_the_browser_to_the_sites_own_error_page(serve, tmp_path):
    service = serve(FORM_CONTACT_ERROR_REDIRECT=f"{SITE}/oops.html")
    answer = submit(service.port, "contact", urlencoded([("email", "nobody")]))
    assert (answer.status, answer.headers["Location"]) == (303, f"{SITE}/oops.html")
    assert outbox(tmp_path) == []
