"""DKIM: every message from the domain is signed as it is sent, after the before_send hooks,
and verifies (dkimpy) against the record ``dinky-mail dkim-keygen`` and ``dinky-mail dns``
printed: from the memory and file transports, over SMTP, and through Debian's Postfix (which
adds its Received header above the signature)."""

import base64
import logging
import os
import re
import stat
import time

import dkim
import pytest

from dinky_falcon.app import create_app
from dinky_falcon.cli import main
from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError
from dinky_falcon.hookspecs import hookimpl
from dinky_falcon.mailer import Mailer
from dinky_falcon.plugins import make_plugin_manager
from support.clients import loopback_client
from support.postfix_harness import wait_for
from support.samples import SEED_REQUEST, parse_mail

FROM_DOMAIN = {**SEED_REQUEST, "from": "Shop <orders@example.org>"}


def zone_value(line: str) -> bytes:
    """The TXT value of a zone-file line: its quoted strings joined, as a resolver returns it."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', line)).encode()


@pytest.fixture
def keygen(tmp_path, monkeypatch, capsys):
    """``keygen(kind)`` runs ``dinky-mail dkim-keygen`` -> (key path, the record it printed)."""
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("MAIL_DOMAIN", "example.org")

    def make(kind: str = "rsa", selector: str = "s2026"):
        path = tmp_path / f"{kind}-{selector}.pem"
        capsys.readouterr()
        assert main(["dkim-keygen", "--type", kind, "--selector", selector, str(path)]) == 0
        (line,) = [x for x in capsys.readouterr().out.splitlines() if not x.startswith(";")]
        assert line.startswith(f"{selector}._domainkey.example.org. 3600 IN TXT ")
        return path, zone_value(line)

    return make


def dns_of(records: dict[str, bytes]):
    """A dkimpy ``dnsfunc`` answering from ``records`` (name -> TXT value)."""

    def lookup(name, timeout=5):
        return records.get(name.decode().rstrip("."))

    return lookup


def verifies(raw: bytes, selector: str, record: bytes) -> bool:
    return dkim.verify(raw, dnsfunc=dns_of({f"{selector}._domainkey.example.org": record}))


def signature_tags(raw: bytes) -> dict[str, str]:
    value = parse_mail(raw)["DKIM-Signature"]
    pairs = (part.split("=", 1) for part in value.split(";") if "=" in part)
    return {k.strip(): "".join(v.split()) for k, v in pairs}


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_message_from_the_memory_transport_verifies_against_the_printed_record(
    kind, keygen, make_client
):
    path, record = keygen(kind)
    client, mailer = make_client(DKIM_PRIVATE_KEY_FILE=str(path), DKIM_SELECTOR="s2026")
    assert client.simulate_post("/send", json=FROM_DOMAIN).status_code == 200
    ((message, _),) = mailer.transports[0][1].sent
    raw = message.as_bytes()
    assert raw.startswith(b"DKIM-Signature: ")
    assert verifies(raw, "s2026", record)
    tags = signature_tags(raw)
    assert tags["a"] == f"{kind}-sha256" and tags["c"] == "relaxed/relaxed"
    assert tags["d"] == "example.org" and tags["s"] == "s2026"
    # Every header that matters and is present; From once more than present (over-signed).
    assert tags["h"].split(":") == [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "from",
    ]
    assert "DKIM-Signature" in dict(message.items())  # plugins reading headers see it too


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_message_written_by_the_file_transport_verifies(kind, keygen, make_client, tmp_path):
    path, record = keygen(kind)
    client, _ = make_client(
        MAIL_TRANSPORT="file", DKIM_PRIVATE_KEY_FILE=str(path), DKIM_SELECTOR="s2026"
    )
    request = {
        **FROM_DOMAIN,
        "cc": "c@example.net",
        "reply_to": "help@example.org",
        "html": "<p>Hé</p>",
        "text": "Hé",
        "headers": {"In-Reply-To": "<a@example.net>", "References": "<a@example.net>"},
        "attachments": [{"filename": "a.txt", "content": "aGVsbG8=", "content_type": "text/plain"}],
    }
    del request["body"]
    assert client.simulate_post("/send", json=request).status_code == 200, "request refused"
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    raw = eml.read_bytes()
    assert verifies(raw, "s2026", record)
    assert signature_tags(raw)["h"].split(":") == [
        "from",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "mime-version",
        "content-type",
        "in-reply-to",
        "references",
        "from",
    ]


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_message_sent_over_smtp_verifies_as_it_arrives(kind, keygen, make_client, smtp_server):
    path, record = keygen(kind)
    client, _ = make_client(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        DKIM_PRIVATE_KEY_FILE=str(path),
        DKIM_SELECTOR="s2026",
    )
    assert client.simulate_post("/send", json=FROM_DOMAIN).status_code == 200
    (received,) = smtp_server.messages
    assert verifies(received.data, "s2026", record)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_message_relayed_by_postfix_still_verifies_below_its_received_header(
    kind, keygen, make_client, make_postfix, gmail_server
):
    path, record = keygen(kind)
    relay = make_postfix(gmail_server.port)
    client, _ = make_client(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(relay.port),
        SMTP_TIMEOUT="5",
        DKIM_PRIVATE_KEY_FILE=str(path),
        DKIM_SELECTOR="s2026",
    )
    request = {**FROM_DOMAIN, "body": "Bonjour,\nçа va ?\n" + "long line " * 30 + "\n"}
    assert client.simulate_post("/send", json=request).status_code == 200
    (received,) = wait_for(lambda: gmail_server.messages, what="the relay to receive it")
    assert received.data.startswith(b"Received: ")  # Postfix's, above the signature
    assert b"\nDKIM-Signature: " in received.data.replace(b"\r\n", b"\n")
    assert verifies(received.data, "s2026", record)


class ChangesSubjectAndAddsHeader:
    @hookimpl
    def before_send(self, message):
        message.replace_header("Subject", "Changed by a plugin")
        message["List-Unsubscribe"] = "<mailto:leave@example.org>"


def test_signing_happens_after_the_before_send_hooks(keygen, make_settings):
    path, record = keygen("ed25519")
    settings = make_settings(DKIM_PRIVATE_KEY_FILE=str(path), DKIM_SELECTOR="s2026")
    pm = make_plugin_manager(settings)
    pm.register(ChangesSubjectAndAddsHeader(), name="changes")
    mailer = Mailer.from_settings(settings, pm)
    client = loopback_client(create_app(settings, mailer=mailer))
    assert client.simulate_post("/send", json=FROM_DOMAIN).status_code == 200
    ((message, _),) = mailer.transports[0][1].sent
    raw = message.as_bytes()
    assert parse_mail(raw)["Subject"] == "Changed by a plugin"
    assert verifies(raw, "s2026", record)
    assert "list-unsubscribe" in signature_tags(raw)["h"].split(":")


def test_a_subdomain_of_dkim_domain_is_signed_for_the_domain(keygen, make_client):
    path, record = keygen("ed25519")
    client, mailer = make_client(
        DKIM_PRIVATE_KEY_FILE=str(path),
        DKIM_SELECTOR="s2026",
        ALLOWED_SENDER_DOMAINS="news.example.org",
    )
    request = {**SEED_REQUEST, "from": "news@news.example.org"}
    assert client.simulate_post("/send", json=request).status_code == 200
    raw = mailer.transports[0][1].sent[0][0].as_bytes()
    assert signature_tags(raw)["d"] == "example.org"
    assert verifies(raw, "s2026", record)


def test_mail_from_another_domain_is_not_signed_and_said_once(keygen, make_client, caplog):
    path, _ = keygen("ed25519")
    client, mailer = make_client(
        DKIM_PRIVATE_KEY_FILE=str(path), ALLOWED_SENDER_DOMAINS="other.example,notexample.org"
    )
    caplog.set_level(logging.INFO, logger="dinky_falcon.mail.dkim")
    for sender in ("a@other.example", "b@other.example", "c@notexample.org"):
        request = {**SEED_REQUEST, "from": sender}
        assert client.simulate_post("/send", json=request).status_code == 200
    assert all(b"DKIM-Signature" not in m.as_bytes() for m, _ in mailer.transports[0][1].sent)
    said = [r.getMessage() for r in caplog.records if r.name == "dinky_falcon.mail.dkim"]
    assert said == [
        "DKIM: mail from other.example is not signed: DKIM_DOMAIN is example.org, and only "
        "that domain and its subdomains can be signed for (said once per domain)",
        "DKIM: mail from notexample.org is not signed: DKIM_DOMAIN is example.org, and only "
        "that domain and its subdomains can be signed for (said once per domain)",
    ]


def test_without_a_key_nothing_is_signed(client_and_sent):
    client, sent = client_and_sent
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert b"DKIM-Signature" not in sent[0][0].as_bytes()


WITH_ATTACHMENT = {
    **FROM_DOMAIN,
    "html": True,
    "body": "<p>see <img src='cid:logo@example.org'> and the file</p>",
    "attachments": [
        {"filename": "data.bin", "content": base64.b64encode(bytes(range(256)) * 40).decode()},
        {"filename": "logo.png", "content": "iVBORw0KGgo=", "content_id": "logo@example.org"},
    ],
}


@pytest.mark.parametrize("request_", [FROM_DOMAIN, WITH_ATTACHMENT], ids=["text", "multipart"])
def test_the_unchanged_prebuilt_bytes_are_what_is_signed_and_sent(keygen, make_client, request_):
    path, _ = keygen("ed25519")
    client, mailer = make_client(DKIM_PRIVATE_KEY_FILE=str(path))
    assert client.simulate_post("/send", json=request_).status_code == 200
    ((message, _),) = mailer.transports[0][1].sent
    signature, _, rest = message.as_bytes().partition(b"\r\nFrom: ")
    message.wire = None  # flatten the message object afresh: the same bytes
    assert message.as_bytes() == signature + b"\r\nFrom: " + rest


# --- Key files: a bad one stops the start with one line -----------------------------------------


def config_error(tmp_path, **variables) -> str:
    environ = {"ENVIRONMENT": "development", "MAIL_DOMAIN": "example.org", **variables}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ, env_file=None)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_a_missing_key_file_stops_the_start(tmp_path):
    path = tmp_path / "none.pem"
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(path)) == (
        f"DKIM_PRIVATE_KEY_FILE: cannot read {str(path)!r}: No such file or directory"
    )


def test_a_key_path_that_is_a_directory_stops_the_start(tmp_path):
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(tmp_path)) == (
        f"DKIM_PRIVATE_KEY_FILE: cannot read {str(tmp_path)!r}: Is a directory"
    )


def test_a_file_that_is_no_key_stops_the_start(tmp_path):
    path = tmp_path / "cert.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(path)) == (
        f"DKIM_PRIVATE_KEY_FILE: {str(path)!r}: not a PEM private key (RSA or Ed25519)"
    )


def test_an_encrypted_or_unusable_key_stops_the_start(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret passphrase"),
        )
    )
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(encrypted)).endswith(
        "the key is encrypted: write it without a passphrase"
    )
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(p256)).endswith(
        "only an RSA or an Ed25519 key can sign DKIM"
    )


def test_an_rsa_key_in_pkcs1_form_as_openssl_genrsa_writes_it_is_accepted(tmp_path, make_client):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = tmp_path / "pkcs1.pem"
    path.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    client, mailer = make_client(DKIM_PRIVATE_KEY_FILE=str(path))
    assert client.simulate_post("/send", json=FROM_DOMAIN).status_code == 200
    raw = mailer.transports[0][1].sent[0][0].as_bytes()
    assert verifies(raw, "mail", mailer.signer.key.record.encode())


def test_the_service_does_not_start_with_a_bad_key(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAIL_DOMAIN", "example.org")
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(tmp_path / "gone.pem"))
    assert main(["serve", "--port", "0"]) == 2
    assert capsys.readouterr().err == (
        "dinky-mail: configuration error: DKIM_PRIVATE_KEY_FILE: cannot read "
        f"{str(tmp_path / 'gone.pem')!r}: No such file or directory\n"
    )


# --- dkim-keygen ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_keygen_writes_a_key_only_its_owner_can_read(kind, keygen):
    path, record = keygen(kind)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert record.startswith(f"v=DKIM1; k={kind}; p=".encode())
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_keygen_never_overwrites_a_file(keygen, tmp_path, capsys):
    path = tmp_path / "rsa-s2026.pem"
    path.write_text("the key in use\n")
    assert main(["dkim-keygen", str(path), "--selector", "s2026"]) == 1
    assert "exists: it is never overwritten" in capsys.readouterr().err
    assert path.read_text() == "the key in use\n"


def test_keygen_into_a_missing_folder_says_so_in_one_line(keygen, tmp_path, capsys):
    path = tmp_path / "no-such-folder" / "dkim.pem"
    assert main(["dkim-keygen", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"dinky-mail: cannot write {path}: No such file or directory\n"
    )


def test_keygen_works_while_dkim_private_key_file_already_names_the_missing_key(
    keygen, tmp_path, monkeypatch, capsys
):
    path = tmp_path / "planned.pem"
    monkeypatch.setenv("DKIM_PRIVATE_KEY_FILE", str(path))
    assert main(["dkim-keygen", str(path)]) == 0
    assert path.exists()
    assert "mail._domainkey.example.org. 3600 IN TXT" in capsys.readouterr().out


def test_a_key_path_that_is_a_fifo_or_a_device_stops_the_start_at_once(tmp_path):
    # Reading a FIFO would wait for a writer forever; /dev/zero would never end.
    fifo = tmp_path / "key.pem"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(fifo)) == (
        f"DKIM_PRIVATE_KEY_FILE: cannot read {str(fifo)!r}: not a regular file"
    )
    assert config_error(tmp_path, DKIM_PRIVATE_KEY_FILE="/dev/zero").endswith("not a regular file")
    assert time.monotonic() - started < 5


def test_a_huge_key_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.pem"
    with open(path, "wb") as file:
        file.truncate(1 << 30)  # sparse: a gigabyte of nothing
    assert "larger than 65,536 bytes" in config_error(tmp_path, DKIM_PRIVATE_KEY_FILE=str(path))
