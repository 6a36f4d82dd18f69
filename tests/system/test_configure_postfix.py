"""configure-postfix on its own: what it writes, what it refuses, and that it is idempotent.

These run the script into a temporary directory and read the result with Debian's postconf and
postmap; test_postfix_relay.py starts Postfix on what it writes.
"""

import os
import stat
import subprocess
import time

import pytest

from support.postfix_harness import CONFIGURE, REPO, run_configure

BASE = {
    "MAIL_DOMAIN": "example.org",
    "MAIL_HOSTNAME": "mail.example.org",
    "SMTP_RELAY_HOST": "smtp.gmail.com",
    "SMTP_RELAY_PORT": "587",
    "SMTP_RELAY_USERNAME": "site@example.org",
    "SMTP_RELAY_PASSWORD": "abcd efgh ijkl mnop",
    "MYNETWORKS": "172.30.253.0/24",
}


@pytest.fixture
def configure(tmp_path):
    """Run the script into tmp_path/etc; assert it succeeded; return (dir, parameters)."""

    def run(**env):
        directory = tmp_path / "etc"
        done = run_configure(directory, {**BASE, **env})
        assert done.returncode == 0, done.stderr
        return directory, main_cf(directory)

    return run


def main_cf(directory) -> dict[str, str]:
    """main.cf as name -> value (the script writes one "name = value" per line)."""
    lines = (directory / "main.cf").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def snapshot(directory):
    return {
        path.relative_to(directory): (
            path.read_bytes(),
            path.stat().st_mode,
            path.stat().st_mtime_ns,
        )
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_the_relay_is_gmail_over_verified_tls_with_sasl(configure):
    directory, main = configure()
    assert main["relayhost"] == "[smtp.gmail.com]:587"
    assert main["smtp_tls_security_level"] == "secure"
    assert main["smtp_tls_CAfile"] == f"{directory}/relay-ca.pem"
    assert main["smtp_tls_wrappermode"] == "no"
    assert main["smtp_sasl_auth_enable"] == "yes"
    assert main["smtp_sasl_password_maps"] == f"hash:{directory}/sasl_passwd"
    assert main["mynetworks"] == "127.0.0.1/32 172.30.253.0/24"
    assert main["in_flow_delay"] == "0s"
    assert main["myhostname"] == "mail.example.org" and main["mydomain"] == "example.org"


def test_the_credentials_map_is_private_and_holds_the_squeezed_app_password(configure):
    directory, _ = configure()
    for name in ("sasl_passwd", "sasl_passwd.db"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    looked_up = subprocess.run(
        ["postmap", "-q", "[smtp.gmail.com]:587", f"hash:{directory}/sasl_passwd"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert looked_up == "site@example.org:abcdefghijklmnop"


def test_postfix_reads_every_setting_without_a_warning(configure):
    directory, main = configure()
    settled = time.time() - 10  # spare postconf's pause on just-written files
    for path in directory.rglob("*"):
        os.utime(path, (settled, settled))
    shown = subprocess.run(
        ["postconf", "-c", str(directory), "-n"], check=True, capture_output=True, text=True
    )
    assert shown.stderr == ""
    assert f"mynetworks = {main['mynetworks']}" in shown.stdout.splitlines()
    checked = subprocess.run(
        ["postconf", "-c", str(directory), "-M"], check=True, capture_output=True, text=True
    )
    assert checked.stderr == ""
    services = [line.split()[:2] for line in checked.stdout.splitlines()]
    assert ["smtp", "inet"] in services and ["submission", "inet"] in services


def test_every_path_in_main_cf_is_inside_the_directory(configure):
    directory, main = configure()
    words = (word for value in main.values() for word in value.replace(",", " ").split())
    paths = [word.split(":", 1)[-1] for word in words if "/" in word and not word[0].isdigit()]
    assert len(paths) >= 4  # CA bundle, credentials map, SASL config, server certificate
    # The mail log is the one exception: the container's stdout.
    assert [p for p in paths if not p.startswith(f"{directory}/") and p != "/dev/stdout"] == []


def test_running_it_twice_changes_no_file(configure):
    directory, _ = configure()
    before = snapshot(directory)
    configure()
    assert snapshot(directory) == before


def test_a_changed_password_is_written_and_indexed_again(configure):
    directory, _ = configure()
    configure(SMTP_RELAY_PASSWORD="new-password")
    looked_up = subprocess.run(
        ["postmap", "-q", "[smtp.gmail.com]:587", f"hash:{directory}/sasl_passwd"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert looked_up == "site@example.org:new-password"


def test_the_submission_login_is_rebuilt_only_when_it_changes(configure):
    directory, _ = configure(SUBMISSION_USERNAME="cron", SUBMISSION_PASSWORD="one")
    sasldb = directory / "sasl" / "sasldb2"
    users = subprocess.run(["sasldblistusers2", "-f", str(sasldb)], capture_output=True, text=True)
    assert users.stdout.startswith("cron@example.org:")  # the realm defaults to MAIL_DOMAIN
    assert stat.S_IMODE(sasldb.stat().st_mode) == 0o640
    before = snapshot(directory)
    configure(SUBMISSION_USERNAME="cron", SUBMISSION_PASSWORD="one")
    assert snapshot(directory) == before
    configure(SUBMISSION_USERNAME="cron", SUBMISSION_PASSWORD="two")
    assert (
        snapshot(directory)[sasldb.relative_to(directory)] != before[sasldb.relative_to(directory)]
    )
    configure()
    assert not sasldb.exists()


def test_the_legacy_relay_names_still_work_and_the_new_ones_win(configure):
    legacy = {
        "SMTP_RELAY_HOST": "",
        "SMTP_RELAY_PORT": "",
        "SMTP_RELAY_USERNAME": "",
        "SMTP_RELAY_PASSWORD": "",
        "RELAY_HOST": "smtp.example.net",
        "RELAY_PORT": "2525",
        "RELAY_USERNAME": "old@example.net",
        "RELAY_PASSWORD": "oldsecret",
    }
    directory, main = configure(**legacy)
    assert main["relayhost"] == "[smtp.example.net]:2525"
    assert (
        directory / "sasl_passwd"
    ).read_text() == "[smtp.example.net]:2525 old@example.net:oldsecret\n"
    _, main = configure(**{**legacy, "SMTP_RELAY_HOST": "smtp.gmail.com"})
    assert main["relayhost"] == "[smtp.gmail.com]:2525"


def test_port_465_uses_implicit_tls_and_tls_verify_no_still_encrypts(configure):
    _, main = configure(SMTP_RELAY_PORT="465", TLS_VERIFY="No")
    assert main["smtp_tls_wrappermode"] == "yes"
    assert main["smtp_tls_security_level"] == "encrypt"
    assert "smtp_tls_CAfile" not in main


def test_without_a_relay_mail_is_delivered_directly_and_no_credentials_are_kept(configure):
    directory, _ = configure()
    _, main = configure(SMTP_RELAY_HOST="", SMTP_RELAY_USERNAME="", SMTP_RELAY_PASSWORD="")
    assert main["relayhost"] == ""
    assert "smtp_sasl_auth_enable" not in main
    assert not list(directory.glob("sasl_passwd*"))


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("MAIL_DOMAIN", "example.org\nrelayhost = evil.example", "MAIL_DOMAIN="),
        ("MAIL_HOSTNAME", "mail.$mydomain", "MAIL_HOSTNAME="),
        ("SMTP_RELAY_HOST", "smtp.gmail.com smtp.evil.example", "SMTP_RELAY_HOST="),
        ("SMTP_RELAY_PORT", "587 x", "SMTP_RELAY_PORT="),
        ("SMTP_RELAY_USERNAME", "a:b@example.org", "SMTP_RELAY_USERNAME"),
        ("TLS_VERIFY", "maybe", "TLS_VERIFY='maybe' is not a boolean"),
        ("MYNETWORKS", "10.0.0.0/8", "too wide"),
        ("MYNETWORKS", "0.0.0.0/0", "too wide"),
        ("MYNETWORKS", "172.30.253.0/24,$mynetworks", "MYNETWORKS"),
        ("MESSAGE_SIZE_LIMIT", "10M", "MESSAGE_SIZE_LIMIT"),
        ("MAIL_DOMAIN", "", "MAIL_DOMAIN is required"),
        ("SUBMISSION_USERNAME", "a@b@example.org", "SUBMISSION_USERNAME="),
    ],
)
def test_a_bad_value_stops_it_with_one_line_naming_the_variable(tmp_path, variable, value, message):
    done = run_configure(tmp_path / "etc", {**BASE, variable: value})
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "etc" / "main.cf").exists()


def test_the_map_type_is_the_one_postfix_supports(configure):
    default_type = subprocess.run(
        ["postconf", "-d", "-h", "default_database_type"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    _, main = configure()
    assert main["smtp_sasl_password_maps"].startswith(f"{default_type}:")
    assert os.access(CONFIGURE, os.X_OK)  # the Dockerfile copies it as it is


def entrypoint_awk(after: str) -> str:
    """An awk program of the container's entrypoint, to run it here on Debian's awk."""
    entrypoint = (REPO / "compose" / "mail-server" / "entrypoint").read_text()
    start = entrypoint.index(after + " awk '") + len(after + " awk '")
    return entrypoint[start : entrypoint.index("'", start)]


def test_the_container_trusts_its_own_network_by_default():
    ip_output = (
        "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
        "52: eth0    inet 172.18.0.3/16 brd 172.18.255.255 scope global eth0\\       valid_lft forever\n"
        "54: eth1    inet 192.168.96.7/20 brd 192.168.111.255 scope global eth1\\       valid_lft forever\n"
    )
    networks = subprocess.run(
        ["awk", entrypoint_awk("ip -o -4 addr show |")],
        input=ip_output,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert networks == "172.18.0.0/16,192.168.96.0/20"


def test_the_networks_found_are_accepted_by_configure_postfix(configure):
    _, main = configure(MYNETWORKS="172.18.0.0/16,192.168.96.0/20")
    assert main["mynetworks"] == "127.0.0.1/32 172.18.0.0/16 192.168.96.0/20"
