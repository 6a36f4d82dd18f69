"""The judges are part of the tests: Debian's SpamAssassin scores every message shape the API
builds (through the real app, local tests only) and none may hit a MIME_, HTML_ or MISSING_
rule, the rules for a badly made message; and a DKIM-signed message verifies with
SpamAssassin's DKIM plugin against the record ``dinky-mail dns`` printed, served by a DNS
server of the test's own (nothing leaves loopback).

Cost (2 cores shared with other work): spamd takes about 4 s to load its rules, once for the
module (a spamassassin process per message would take 3 s each); each message then about
0.3 s; the DKIM run, a spamassassin process of its own, 3 to 6 s. The module adds 10 to 15 s."""

import base64
import re

import pytest

from dinky_falcon.cli import main
from support.dns_peer import DnsPeer
from support.samples import SEED_REQUEST
from support.spamassassin import Spamd, spamassassin_rules

# Rules that say a message is badly made rather than what it says...
CONSTRUCTION_RULES = ("MIME_", "HTML_", "MISSING_")
# ...but for these, which judge what the sender wrote, the same however well it is built:
# HTML_MESSAGE is "HTML included in message" (score 0.001), HTML_IMAGE_ONLY_04 to _32 count
# the words beside an image (under 3,200 bytes of them).
CONTENT_RULES = ("HTML_MESSAGE", "HTML_IMAGE_ONLY_")
# An Outlook Message-ID: 87 characters, longer than a header line's 78 with its name.
OUTLOOK_ID = (
    "<" + "DM6PR04MB4345A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6@DM6PR04MB4345.namprd04.prod.outlook.com>"
)
HTML = (
    '<p>Hello Ada,</p><p>your order has shipped. <a href="https://example.org/o/1">See it</a>.</p>'
)
TEXT = "Hello Ada,\n\nyour order has shipped. See it: https://example.org/o/1\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


ADDRESSED = {"to": SEED_REQUEST["to"], "subject": SEED_REQUEST["subject"]}  # bodies of its own
SHAPES = {
    "the seed's request": SEED_REQUEST,
    "body with html: true": {**SEED_REQUEST, "body": HTML, "html": True},
    "an html string with text": {**ADDRESSED, "html": HTML, "text": TEXT},
    "an html string alone": {**ADDRESSED, "html": HTML},
    "text and html with a utf-8 text attachment": {
        **ADDRESSED,
        "html": HTML,
        "text": TEXT,
        "attachments": [{"filename": "notes.txt", "content": b64("Grüße aus Zürich\n".encode())}],
    },
    "a binary attachment": {
        **SEED_REQUEST,
        "attachments": [{"filename": "data.bin", "content": b64(bytes(range(256)) * 8)}],
    },
    "a non-ascii attachment name": {
        **SEED_REQUEST,
        "attachments": [{"filename": "Übersicht März.txt", "content": b64(b"Summary\n")}],
    },
    "an inline image of the html": {
        **ADDRESSED,
        "html": HTML + '<img src="cid:logo" alt="Logo">',
        "attachments": [
            {"filename": "logo.png", "content": b64(PNG), "content_id": "logo"},
        ],
    },
    "cc, reply_to and a sender name": {
        **SEED_REQUEST,
        "cc": ["Team <team@example.org>", "archive@example.org"],
        "reply_to": "Ada Lovelace <ada@example.net>",
        "sender_name": "Website of example.org",
    },
    "a non-ascii subject and body": {
        **SEED_REQUEST,
        "to": {"name": "Zoë Ångström", "email": "zoe@example.org"},
        "subject": "Grüße aus Zürich – ça va ? 日本語の件名",
        "body": "Bonjour Zoë,\n\nvoilà les données demandées : 12 € par mois.\nよろしく。\n",
    },
    "a reply with a long in-reply-to and references": {
        **SEED_REQUEST,
        "subject": "Re: Test Email",
        "headers": {
            "In-Reply-To": OUTLOOK_ID,
            "References": f"<first@example.net> {OUTLOOK_ID}",
        },
    },
}


@pytest.fixture(scope="module")
def spamd(tmp_path_factory):
    with Spamd(tmp_path_factory.mktemp("spamd")) as judge:
        yield judge


def construction_faults(rules: list[str]) -> list[str]:
    return [
        r for r in rules if r.startswith(CONSTRUCTION_RULES) and not r.startswith(CONTENT_RULES)
    ]


def sent_bytes(mailer) -> bytes:
    ((message, _),) = mailer.transports[0][1].sent
    return message.as_bytes()


def test_the_judge_flags_a_badly_made_message(spamd):
    # An HTML-only message with no <html> tag, as the seed's html: true once went out: if
    # these rules stopped hitting, the tests below could not fail.
    raw = (
        b"From: noreply@example.org\r\nTo: recipient@example.org\r\nSubject: Test Email\r\n"
        b"Date: Mon, 02 Feb 2026 10:00:00 +0000\r\n"
        b"Message-ID: <177002640000.1.2@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/html; charset="utf-8"\r\n\r\n' + HTML.encode() + b"\r\n"
    )
    assert {"MIME_HTML_ONLY", "HTML_MIME_NO_HTML_TAG"} <= set(spamd.rules_of(raw))


@pytest.mark.parametrize("shape", SHAPES)
def test_spamassassin_finds_no_construction_fault_in_any_message_shape(shape, spamd, make_client):
    client, mailer = make_client()
    answer = client.simulate_post("/send", json=SHAPES[shape])
    assert answer.status_code == 200, answer.text
    rules = spamd.rules_of(sent_bytes(mailer))
    assert not construction_faults(rules), f"{shape}: SpamAssassin's rules that hit: {rules}"


def test_form_mail_has_no_construction_fault(spamd, make_client):
    client, mailer = make_client(
        FORM_CONTACT_TO="team@example.org", FORM_CONTACT_FROM_NAME="Website of example.org"
    )
    fields = {
        "name": "Ada Lovelace",
        "email": "ada@example.net",
        "message": "Hello,\nI would like to know more about your offer.\nAda",
    }
    answer = client.simulate_post(
        "/forms/contact", json=fields, headers={"Accept": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    rules = spamd.rules_of(sent_bytes(mailer))
    assert not construction_faults(rules), f"form mail: SpamAssassin's rules that hit: {rules}"


# --- DKIM, judged by SpamAssassin's DKIM plugin -------------------------------------------

RECORD_LINE = re.compile(r"^(\S+\.) 3600 IN TXT (.+)$", re.MULTILINE)


def network_tests_on_loopback_only(dns_port: int) -> tuple[str, ...]:
    """SpamAssassin with DNS on (no -L), every lookup sent to the test's DNS server and only
    for example.org; every other network test off."""
    return (
        "dns_available yes",
        f"dns_server 127.0.0.1:{dns_port}",
        "dns_query_restriction deny *",  # the block lists' zones (askdns, HashBL, ...)
        "dns_query_restriction allow example.org",
        "skip_rbl_checks 1",
        "skip_uribl_checks 1",
        "use_razor2 0",
        "use_pyzor 0",
        "use_dcc 0",
    )


@pytest.fixture
def dinky_mail(tmp_path, monkeypatch, capsys):
    """``dinky_mail(*argv)`` -> what it printed, in a clean environment for example.org."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for name in ("MAIL_TRANSPORT", "SMTP_RELAY_HOST", "SMTP_RELAY_USERNAME", "BOUNCE_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("MAIL_DOMAIN", "example.org")

    def run(*argv: str, **variables: str) -> str:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        assert main(list(argv)) == 0
        return capsys.readouterr().out

    return run


def test_a_signed_message_verifies_with_spamassassins_dkim_plugin(
    dinky_mail, make_client, tmp_path
):
    key = tmp_path / "dkim.pem"
    dinky_mail("dkim-keygen", "--selector", "s1", str(key))
    records = dict(
        RECORD_LINE.findall(dinky_mail("dns", DKIM_PRIVATE_KEY_FILE=str(key), DKIM_SELECTOR="s1"))
    )
    client, mailer = make_client(DKIM_PRIVATE_KEY_FILE=str(key), DKIM_SELECTOR="s1")
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    with DnsPeer(records) as dns:
        rules = spamassassin_rules(
            sent_bytes(mailer),
            tmp_path / "home",
            config=network_tests_on_loopback_only(dns.port),
            # Debian's v312.pre loads it; another configuration might not.
            pre=("loadplugin Mail::SpamAssassin::Plugin::DKIM",),
        )
    assert {"DKIM_SIGNED", "DKIM_VALID", "DKIM_VALID_AU"} <= set(rules), rules
    assert ("s1._domainkey.example.org.", "TXT") in dns.queries
    # What SpamAssassin looked up: only names of example.org, only from our server.
    assert all(name.endswith("example.org.") for name, _ in dns.queries), dns.queries
