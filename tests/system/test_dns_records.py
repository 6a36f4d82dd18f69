"""``dinky-mail dns`` prints SPF, DKIM and DMARC in zone-file form; ``--check`` looks them up
(here: a DNS server of the test's own, on a free 127.0.0.1 port) and says what is missing or
differs. Also BOUNCE_ADDRESS, the envelope sender the SPF record and DMARC reports are about."""

import re
import time

import dns.zone
import pytest

from dinky_falcon.cli import main
from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError
from support.dns_peer import DnsPeer
from support.samples import SEED_REQUEST

RECORD_LINE = re.compile(r'(\S+\.) 3600 IN TXT ((?:"(?:[^"\\]|\\.){0,255}" ?)+)')


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli(*argv, VARIABLE=value)`` -> (exit status, stdout), in a clean environment."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "MAIL_TRANSPORT",
        "SMTP_RELAY_HOST",
        "SMTP_RELAY_USERNAME",
        "BOUNCE_ADDRESS",
        "DKIM_PRIVATE_KEY_FILE",
        "DKIM_SELECTOR",
        "RELAY_HOST",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAIL_DOMAIN", "example.org")

    def run(*argv, **variables):
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        status = main(list(argv))
        return status, capsys.readouterr().out

    return run


@pytest.fixture
def key_file(cli, tmp_path):
    path = tmp_path / "dkim.pem"
    assert cli("dkim-keygen", "--selector", "s1", str(path))[0] == 0
    return path


def records_of(output: str) -> dict[str, str]:
    """name -> TXT data of each record line; every other line is a zone-file comment."""
    found = {}
    for line in output.splitlines():
        if line.startswith(";"):
            continue
        match = RECORD_LINE.fullmatch(line)
        assert match, line
        found[match.group(1)] = match.group(2)
    return found


def text_of(data: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', data))


def test_dns_prints_the_three_records_one_per_line_as_a_zone_file_takes_them(cli, key_file):
    status, output = cli("dns", DKIM_PRIVATE_KEY_FILE=str(key_file), DKIM_SELECTOR="s1")
    assert status == 0
    records = records_of(output)
    assert list(records) == ["example.org.", "s1._domainkey.example.org.", "_dmarc.example.org."]
    assert text_of(records["example.org."]) == "v=spf1 a mx ~all"
    assert "; SPF: assumes Postfix delivers directly" in output
    dkim_strings = re.findall(r'"([^"]*)"', records["s1._domainkey.example.org."])
    assert len(dkim_strings) == 2 and max(map(len, dkim_strings)) == 255  # RSA 2048: split
    assert text_of(records["s1._domainkey.example.org."]).startswith("v=DKIM1; k=rsa; p=MIIB")
    assert text_of(records["_dmarc.example.org."]) == (
        "v=DMARC1; p=none; rua=mailto:postmaster@example.org"
    )
    # Pasted into a zone file, the lines are what a name server loads.
    zone = dns.zone.from_text(output, origin="example.org.", check_origin=False)
    rdata = zone.find_rdataset("s1._domainkey", "TXT")[0]
    assert b"".join(rdata.strings).decode() == text_of(records["s1._domainkey.example.org."])


def test_dns_names_gmail_when_mail_leaves_through_gmail(cli):
    for variables in (
        {"MAIL_TRANSPORT": "gmail"},
        {"MAIL_TRANSPORT": "postfix", "SMTP_RELAY_USERNAME": "me@gmail.com"},
    ):
        status, output = cli("dns", **variables)
        assert text_of(records_of(output)["example.org."]) == "v=spf1 include:_spf.google.com ~all"
        assert (
            "; DKIM: no DKIM_PRIVATE_KEY_FILE; make a key with `dinky-mail dkim-keygen PATH`"
            in output
        )


def test_dns_names_another_relay_by_its_address_and_says_so(cli):
    status, output = cli("dns", MAIL_TRANSPORT="postfix", SMTP_RELAY_HOST="smtp.relay.example")
    assert text_of(records_of(output)["example.org."]) == "v=spf1 a:smtp.relay.example ~all"
    assert "assumes mail leaves from the address of smtp.relay.example" in output


def test_dns_check_says_ok_when_everything_is_published(cli, key_file):
    variables = {"DKIM_PRIVATE_KEY_FILE": str(key_file), "DKIM_SELECTOR": "s1"}
    records = records_of(cli("dns", **variables)[1])
    with DnsPeer(records) as peer:
        status, output = cli("dns", "--check", "--server", f"127.0.0.1:{peer.port}", **variables)
    assert status == 0, output
    assert [line.split()[:3] for line in output.splitlines()] == [
        ["ok", "SPF", "example.org."],
        [
            "ok",
            "DKIM",
            "s1._domainkey.example.org.",
        ],
        ["ok", "DMARC", "_dmarc.example.org."],
    ]


def test_dns_check_says_which_records_are_missing_or_differ(cli, key_file, tmp_path):
    variables = {
        "DKIM_PRIVATE_KEY_FILE": str(key_file),
        "DKIM_SELECTOR": "s1",
        "MAIL_TRANSPORT": "gmail",
    }
    other_key = tmp_path / "other.pem"
    cli("dkim-keygen", "--selector", "s1", str(other_key))
    published = {
        "example.org.": '"v=spf1 mx ~all"',  # Gmail's include is lacking
        "s1._domainkey.example.org.": records_of(
            cli("dns", DKIM_PRIVATE_KEY_FILE=str(other_key), DKIM_SELECTOR="s1")[1]
        )["s1._domainkey.example.org."],
    }
    with DnsPeer(published) as peer:
        status, output = cli("dns", "--check", "--server", f"127.0.0.1:{peer.port}", **variables)
    assert status == 1
    lines = output.splitlines()
    assert lines[0] == "DIFFERS SPF   example.org.  lacks include:_spf.google.com: v=spf1 mx ~all"
    assert lines[1] == "DIFFERS DKIM  s1._domainkey.example.org.  another key is published"
    assert lines[2] == "MISSING DMARC _dmarc.example.org."
    assert lines[3].startswith("; publish what is missing or differs")


def test_dns_check_gives_up_after_its_timeout_when_the_server_never_answers(cli):
    with DnsPeer({}, silent=True) as peer:
        started = time.monotonic()
        status, output = cli(
            "dns", "--check", "--server", f"127.0.0.1:{peer.port}", "--timeout", "0.5"
        )
        elapsed = time.monotonic() - started
    assert status == 1
    assert [line.split()[0] for line in output.splitlines()[:2]] == ["UNKNOWN", "UNKNOWN"]
    assert output.splitlines()[0] == "UNKNOWN SPF   example.org.  no answer within 0.5 s"
    assert elapsed < 3


# --- BOUNCE_ADDRESS -------------------------------------------------------------------------


def test_bounce_address_is_the_envelope_sender_and_from_is_unchanged(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        BOUNCE_ADDRESS="bounces@example.org",
    )
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    (received,) = smtp_server.messages
    assert received.mail_from == "bounces@example.org"
    assert b"\r\nFrom: noreply@example.org\r\n" in b"\r\n" + received.data


def test_without_bounce_address_the_envelope_sender_is_the_from_address(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
    )
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert smtp_server.messages[0].mail_from == "noreply@example.org"


def test_the_sender_policy_still_judges_the_from_address_with_a_bounce_address(make_client):
    client, _ = make_client(BOUNCE_ADDRESS="bounces@example.org")
    answer = client.simulate_post("/send", json={**SEED_REQUEST, "from": "ceo@elsewhere.example"})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "value", ["not an address", "Bounces <bounces@example.org>", "bøunces@example.org"]
)
def test_an_unusable_bounce_address_stops_the_start(value):
    with pytest.raises(ConfigError, match="^BOUNCE_ADDRESS"):
        Settings.from_env({"MAIL_DOMAIN": "example.org", "BOUNCE_ADDRESS": value}, env_file=None)


def test_a_bounce_address_outside_the_domain_is_warned_about_alignment():
    aligned = Settings.from_env(
        {"MAIL_DOMAIN": "example.org", "BOUNCE_ADDRESS": "b@mail.example.org"}, env_file=None
    )
    assert not [w for w in aligned.warnings if "BOUNCE_ADDRESS" in w]
    elsewhere = Settings.from_env(
        {"MAIL_DOMAIN": "example.org", "BOUNCE_ADDRESS": "b@example.net"}, env_file=None
    )
    assert [w for w in elsewhere.warnings if "BOUNCE_ADDRESS" in w] == [
        "BOUNCE_ADDRESS is not under example.org: SPF passes for its domain, not for the From "
        "domain, so DMARC must rely on DKIM alone (docs/domain.md)"
    ]


def test_dmarc_reports_go_to_the_bounce_address(cli):
    output = cli("dns", BOUNCE_ADDRESS="postmaster-reader@example.org")[1]
    assert text_of(records_of(output)["_dmarc.example.org."]) == (
        "v=DMARC1; p=none; rua=mailto:postmaster-reader@example.org"
    )


def test_dns_check_shows_what_a_name_server_published_escaped_and_cut_on_one_line(cli):
    # Whoever answers the lookup writes these: an escape sequence and a carriage return that
    # would paint "ok" over DIFFERS in a terminal, and a record of kilobytes.
    painted = '"v=spf1 \\027[2K\\013ok \\027]0;title\\007 ~all"'
    huge = '"v=DMARC1; p=none" ' + " ".join(['"' + "x" * 255 + '"'] * 12)
    with DnsPeer({"example.org.": painted, "_dmarc.example.org.": huge}) as peer:
        status, output = cli("dns", "--check", "--server", f"127.0.0.1:{peer.port}")
    assert status != 0
    assert all(line.isprintable() for line in output.splitlines())
    (spf,) = [line for line in output.splitlines() if " SPF " in line]
    assert spf.startswith("DIFFERS") and "\\x1b[2K\\rok" in spf
    (dmarc,) = [line for line in output.splitlines() if " DMARC " in line]
    assert len(dmarc) < 400 and dmarc.endswith("(3,076 characters)")
