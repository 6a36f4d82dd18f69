"""End to end through the API: POST /send with the ``postfix`` transport into Debian's real
postfix (configured by configure-postfix), which relays to the Gmail stand-in."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from email import message_from_bytes
from email.policy import default

import pytest
import trustme

from support.postfix_harness import PASSWORD, USERNAME, wait_for
from support.samples import SEED_REQUEST
from support.smtp_peer import SmtpPeer, free_port

CONTACT_FORM = {
    "to": "owner@example.net",
    "from": "Website <noreply@example.org>",
    "subject": "Contact form: a question about delivery",
    "body": "Hello,\nwill this reach you?\n",
}


@pytest.fixture
def api_to(make_client):
    """A falcon TestClient whose ``postfix`` transport talks to the given Postfix."""

    def make(relay):
        client, _ = make_client(
            MAIL_TRANSPORT="postfix",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(relay.port),
            SMTP_TIMEOUT="5",
        )
        return client

    return make


def parsed(received):
    return message_from_bytes(received.data.replace(b"\r\n", b"\n"), policy=default)


def test_a_posted_message_reaches_the_relay_over_tls_with_the_credentials(
    gmail_server, make_postfix, api_to
):
    relay = make_postfix(gmail_server.port)
    answer = api_to(relay).simulate_post("/send", json=CONTACT_FORM)

    assert answer.status_code == 200, answer.json
    assert answer.json["transport"] == "postfix"
    (received,) = wait_for(lambda: gmail_server.messages, what="the relay to receive it")
    assert received.tls is True and received.login == USERNAME.encode()
    assert received.mail_from == "noreply@example.org"
    assert received.rcpt_tos == ("owner@example.net",)
    message = parsed(received)
    assert message["Message-ID"] == answer.json["id"]
    assert message["Subject"] == CONTACT_FORM["subject"]
    assert message["From"] == CONTACT_FORM["from"] and message["To"] == CONTACT_FORM["to"]
    assert message.get_content() == CONTACT_FORM["body"]


@pytest.mark.parametrize(
    "to",
    ["owner@example.net", ["owner@example.net", "office@example.net"]],
    ids=["one recipient: BDAT", "two recipients: DATA"],
)
def test_lines_that_start_with_a_dot_reach_the_relay_unchanged(
    gmail_server, make_postfix, api_to, to
):
    """Postfix offers CHUNKING: a message to one recipient goes with BDAT (no dot-stuffing),
    one to two with DATA (dot-stuffed); Postfix must read both back to the same text."""
    body = ".\n.. two dots\n.end\n"
    answer = api_to(make_postfix(gmail_server.port)).simulate_post(
        "/send", json=dict(CONTACT_FORM, to=to, body=body)
    )
    assert answer.status_code == 200, answer.json
    (received,) = wait_for(lambda: gmail_server.messages, what="the relay to receive it")
    assert sorted(received.rcpt_tos) == sorted([to] if isinstance(to, str) else to)
    assert parsed(received).get_content() == body


def test_with_the_relay_down_send_answers_200_and_the_mail_arrives_after_a_flush(
    tls_ca, make_postfix, api_to
):
    port = free_port()  # the relay is down
    relay = make_postfix(port)
    client = api_to(relay)
    answers = [
        client.simulate_post("/send", json=dict(CONTACT_FORM, subject=f"Queued {n}"))
        for n in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    wait_for(lambda: len(relay.deferred()) == 3, what="three deferred messages")

    with SmtpPeer(ca=tls_ca, username=USERNAME, password=PASSWORD, port=port) as gmail:
        relay.flush()
        wait_for(lambda: len(gmail.messages) == 3, what="every queued message")
        assert sorted(parsed(m)["Message-ID"] for m in gmail.messages) == sorted(
            a.json["id"] for a in answers
        )
        wait_for(lambda: relay.queued() == [], what="the queue to empty")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_an_untrusted_relay_certificate_keeps_posted_mail_queued(make_postfix, api_to):
    with SmtpPeer(
        ca=trustme.CA(), username=USERNAME, password=PASSWORD, require_tls=False
    ) as impostor:
        relay = make_postfix(impostor.port)
        answer = api_to(relay).simulate_post("/send", json=CONTACT_FORM)
        assert answer.status_code == 200  # Postfix has it, safe on disk
        (deferred,) = wait_for(relay.deferred, what="the message to be deferred")
        assert deferred["recipients"][0]["address"] == "owner@example.net"
        assert impostor.messages == []


def test_a_password_with_spaces_dollar_and_colon_works_through_the_api(
    tls_ca, make_postfix, api_to
):
    with SmtpPeer(ca=tls_ca, username=USERNAME, password="ab$cd:ef$HOMEgh") as gmail:
        relay = make_postfix(gmail.port, SMTP_RELAY_PASSWORD="ab$c d:ef $HOME gh")
        assert api_to(relay).simulate_post("/send", json=SEED_REQUEST).status_code == 200
        (received,) = wait_for(lambda: gmail.messages, what="delivery")
        assert received.login == USERNAME.encode()


def test_dinky_mail_serve_and_check_work_against_the_relay(gmail_server, make_postfix, tmp_path):
    """The operator's view: a real waitress, and `dinky-mail check` as the docs tell to run it."""
    relay = make_postfix(gmail_server.port)
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "ENVIRONMENT": "production",
        "MAIL_DOMAIN": "example.org",
        "MAIL_TRANSPORT": "postfix",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(relay.port),
        "SMTP_TIMEOUT": "5",
        "LOG_LEVEL": "info",
    }
    check = subprocess.run(
        [sys.executable, "-m", "dinky_falcon", "check"],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # Postfix answered, under the MAIL_HOSTNAME configure-postfix gave it.
    assert re.search(
        rf"ok +postfix: SMTP: 127\.0\.0\.1:{relay.port} .*mail\.example\.org", check.stdout
    )
    assert "ready: the service can deliver mail" in check.stdout

    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "dinky_falcon", "serve", "--host", "127.0.0.1", "--port", "0"],
            env=environ,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        port = int(
            wait_for(
                lambda: re.search(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text()),
                timeout=15,
                what="dinky-mail serve to listen",
            ).group(1)
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "POST", "/send", json.dumps(CONTACT_FORM), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        body = json.loads(response.read())
        connection.close()
        assert response.status == 200, body
        (received,) = wait_for(lambda: gmail_server.messages, what="the relay to receive it")
        assert parsed(received)["Message-ID"] == body["id"] and received.tls is True
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=10) == 0, log_path.read_text()
