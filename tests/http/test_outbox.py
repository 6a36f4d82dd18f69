"""The development outbox over HTTP, through a real waitress: the JSON API a site's tests use,
ids that cannot leave OUTBOX_DIR, and the outbox off in production unless asked for."""

import base64
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dinky_falcon.app import create_app
from dinky_falcon.errors import ConfigError
from support.samples import parse_mail

KEY = "alice-key-0123456789abcdef"
MESSAGE = {
    "to": "owner@example.net",
    "bcc": "audit@example.net",
    "subject": "Order 1",
    "text": "Thanks for the order.\n",
    "html": "<p>Thanks for the <b>order</b>.</p>",
    "attachments": [
        {
            "filename": "page.html",
            "content_type": "text/html",
            "content": base64.b64encode(b"<script>alert(1)</script>").decode(),
        }
    ],
}


@pytest.fixture
def outbox(live_server):
    return live_server(MAIL_TRANSPORT="file")


def test_the_api_lists_newest_first_and_shows_a_message_with_its_envelope_and_source(outbox):
    first = outbox.send(dict(MESSAGE, subject="First")).json
    second = outbox.send(MESSAGE).json

    listed = outbox.request("GET", "/outbox/messages").json
    assert listed["total"] == 2
    assert [m["message_id"] for m in listed["messages"]] == [second["id"], first["id"]]
    newest = listed["messages"][0]
    assert newest["subject"] == "Order 1" and newest["to"] == "owner@example.net"
    assert newest["from"] == "noreply@example.org" and newest["attachments"] == 1
    assert newest["size"] > 0 and newest["date"]

    path = "/outbox/messages/" + urllib.parse.quote(newest["id"], safe="")
    message = outbox.request("GET", path).json
    assert message["text"] == "Thanks for the order.\n"
    assert message["html"].startswith("<p>Thanks for the <b>order</b>.</p>")
    assert message["envelope"]["recipients"] == ["owner@example.net", "audit@example.net"]
    assert ["Subject", "Order 1"] in message["headers"]
    assert message["attachments"] == [
        {"index": 0, "filename": "page.html", "content_type": "text/html", "size": 25}
    ]
    raw = outbox.request("GET", path + ".eml")
    assert raw.headers["Content-Type"] == "message/rfc822"
    assert parse_mail(raw.body)["Message-ID"] == second["id"]
    # An attachment is downloaded as bytes, never rendered as a page of the service.
    attachment = outbox.request("GET", path + "/attachments/0")
    assert attachment.body == b"<script>alert(1)</script>"
    assert attachment.headers["Content-Type"] == "application/octet-stream"
    assert attachment.headers["Content-Disposition"].startswith("attachment")
    assert outbox.request("GET", path + "/attachments/1").status == 404


def test_delete_empties_the_outbox(outbox, tmp_path):
    outbox.send(MESSAGE)
    outbox.send(MESSAGE)
    (tmp_path / "outbox" / "notes.txt").write_text("not mail")

    assert outbox.request("DELETE", "/outbox/messages").json == {"deleted": 2}
    assert outbox.request("GET", "/outbox/messages").json == {"total": 0, "messages": []}
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == ["notes.txt"]


def test_the_message_page_escapes_what_the_message_says(outbox):
    outbox.send(
        dict(MESSAGE, subject="<img src=x onerror=alert(1)>", text="</pre><script>x</script>")
    )
    (listed,) = outbox.request("GET", "/outbox/messages").json["messages"]
    page = outbox.request("GET", "/outbox/" + urllib.parse.quote(listed["id"], safe=""))
    assert page.status == 200
    assert b"<img src=x" not in page.body and b"<script>x" not in page.body
    assert b"&lt;img src=x onerror=alert(1)&gt;" in page.body
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


HOSTILE_IDS = [
    "../secret",
    "..%2Fsecret",
    "%2e%2e%2fsecret",
    "/etc/passwd",
    "..",
    ".",
    "secret",
    "notes",
    ".hidden",
    "x.envelope",
]


@pytest.mark.parametrize("id_", HOSTILE_IDS)
def test_an_id_that_is_not_a_message_in_the_outbox_is_not_found(outbox, tmp_path, id_):
    (tmp_path / "secret.eml").write_bytes(b"Subject: outside the outbox\r\n\r\nTOP SECRET\r\n")
    directory = tmp_path / "outbox"
    (directory / "notes.txt").write_text("not mail")
    (directory / ".hidden.eml").write_bytes(b"Subject: a temporary file\r\n\r\n")
    (directory / "x.envelope.json").write_text("{}")
    for path in (
        f"/outbox/messages/{id_}",
        f"/outbox/messages/{id_}.eml",
        f"/outbox/{id_}",
        f"/outbox/{id_}/html",
        f"/outbox/messages/{id_}/attachments/0",
    ):
        answer = outbox.request("GET", path)
        assert answer.status == 404, path
        assert b"TOP SECRET" not in answer.body and b"outside the outbox" not in answer.body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(id_=st.text(min_size=1, max_size=40))
def test_no_id_finds_anything_in_an_empty_outbox_nor_answers_500(outbox, id_):
    quoted = urllib.parse.quote(id_, safe="")
    for path in (f"/outbox/messages/{quoted}", f"/outbox/{quoted}", f"/outbox/{quoted}/html"):
        assert outbox.request("GET", path).status == 404


def test_the_outbox_is_off_in_production_and_with_the_memory_transport(live_server, tmp_path):
    production = live_server(ENVIRONMENT="production", MAIL_TRANSPORT="file", API_KEYS=KEY)
    memory = live_server(MAIL_TRANSPORT="memory")
    for server in (production, memory):
        auth = {"Authorization": f"Bearer {KEY}"}
        assert server.request("GET", "/outbox", headers=auth).status == 404
        assert server.request("GET", "/outbox/messages", headers=auth).status == 404


def test_outbox_ui_in_production_needs_api_keys_and_a_key_per_request(make_settings, live_server):
    with pytest.raises(ConfigError, match="OUTBOX_UI=yes in production needs API_KEYS"):
        create_app(make_settings(ENVIRONMENT="production", MAIL_TRANSPORT="file", OUTBOX_UI="yes"))
    server = live_server(
        ENVIRONMENT="production", MAIL_TRANSPORT="file", OUTBOX_UI="yes", API_KEYS=KEY
    )
    assert server.request("GET", "/outbox").status == 401
    assert server.request("GET", "/outbox/messages").status == 401
    auth = {"Authorization": f"Bearer {KEY}"}
    server.send(MESSAGE, auth)
    assert server.request("GET", "/outbox/messages", headers=auth).json["total"] == 1
    assert server.request("GET", "/outbox", headers=auth).status == 200
    assert json.loads(server.request("DELETE", "/outbox/messages").body)["success"] is False


@pytest.mark.parametrize(
    "host", ["attacker.example", "attacker.example:{port}", "127.0.0.1.nip.io"]
)
def test_a_dns_rebinding_page_cannot_read_or_delete_the_development_outbox(outbox, host):
    # The attacker's name, re-pointed at 127.0.0.1, still arrives in the Host header.
    outbox.send(MESSAGE)
    host = host.format(port=outbox.port)
    for method, path in [
        ("GET", "/outbox"),
        ("GET", "/outbox/messages"),
        ("DELETE", "/outbox/messages"),
    ]:
        answer = outbox.request(method, path, headers={"Host": host})
        assert answer.status == 403, (method, path)
        assert b"Order 1" not in answer.body
    assert outbox.request("GET", "/outbox/messages").json["total"] == 1


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "app.localhost:{port}"])
def test_the_outbox_answers_at_loopback_names_and_addresses(outbox, host):
    outbox.send(MESSAGE)
    headers = {"Host": host.format(port=outbox.port)}
    answer = outbox.request("GET", "/outbox/messages", headers=headers)
    assert answer.status == 200
    assert answer.json["messages"][0]["subject"] == "Order 1"
