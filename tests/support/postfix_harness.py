"""Debian's real postfix, configured by compose/mail-server/configure-postfix, on loopback.

``PostfixRelay(root, env)`` runs the project's configuration script into ``root/etc`` with
``env`` (and nothing else from the test process's environment), then moves what belongs to the
machine into ``root`` too: the queue, the data directory, the mail log, and the listeners on
free 127.0.0.1 ports. ``start()`` runs ``postfix -c root/etc start`` and waits for the 220
banner; ``stop()`` stops it and makes sure no process of this instance is left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from support.smtp_peer import free_port

REPO = Path(__file__).resolve().parents[2]
CONFIGURE = REPO / "compose" / "mail-server" / "configure-postfix"

# The login the gmail_server fixture (tests/conftest.py) expects.
USERNAME = "site@example.org"
PASSWORD = "abcdefghijklmnop"


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def run_configure(config_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """configure-postfix DIR with only ``env`` (plus PATH) in its environment."""
    environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **env}
    return subprocess.run(
        ["sh", str(CONFIGURE), str(config_dir)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


class PostfixRelay:
    def __init__(self, root: Path, env: dict[str, str], server_cert=None):
        self.root = root
        self.etc = root / "etc"
        self.queue = root / "spool"
        self.maillog = root / "maillog"
        self.port = free_port()
        self.submission_port = free_port()
        self.healthcheck_port = free_port()
        self.env = {
            "SMTPD_LISTEN": f"127.0.0.1:{self.port}",
            "SUBMISSION_LISTEN": f"127.0.0.1:{self.submission_port}",
            "HEALTHCHECK_LISTEN": f"127.0.0.1:{self.healthcheck_port}",
            **env,
        }
        self.server_cert = server_cert  # a trustme LeafCert for STARTTLS on our listeners
        self.started = False

    # --- set up ----------------------------------------------------------------------------
    def configure(self) -> str:
        self.root.chmod(0o755)  # postfix's own user must reach its queue and data below
        if self.server_cert is not None:
            (self.etc / "tls").mkdir(parents=True, exist_ok=True)
            self.server_cert.private_key_and_cert_chain_pem.write_to_path(
                str(self.etc / "tls" / "smtpd.pem")
            )
        done = run_configure(self.etc, self.env)
        assert done.returncode == 0, f"configure-postfix failed:\n{done.stdout}{done.stderr}"
        # What only the test machine needs: paths under root, and the names of Debian's
        # unprivileged user and group (postfix runs as root here).
        self.queue.mkdir(exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        self.postconf(
            f"queue_directory={self.queue}",
            f"data_directory={self.root / 'data'}",
            f"maillog_file={self.maillog}",
            f"maillog_file_prefixes={self.root}",
            "mail_owner=postfix",
            "setgid_group=postdrop",
            # The stand-in relay is "localhost" from /etc/hosts; no DNS on the build machines.
            "smtp_host_lookup=native",
            "smtp_connect_timeout=5s",
        )
        os.chown(self.root / "data", *_postfix_ids())
        # Postfix's tools pause a second or two on configuration files modified "just now";
        # written seconds ago as far as they can tell, the instance starts in a fraction of that.
        settled = time.time() - 10
        for path in [self.etc, *self.etc.rglob("*")]:
            os.utime(path, (settled, settled))
        return done.stdout + done.stderr

    def postconf(self, *assignments: str) -> None:
        """``postconf -e``, done in Python to spare postconf's pause on a just-written main.cf."""
        main_cf = self.etc / "main.cf"
        lines = main_cf.read_text().splitlines()
        for assignment in assignments:
            name, value = assignment.split("=", 1)
            line = f"{name} = {value}"
            found = [i for i, old in enumerate(lines) if old.split("=", 1)[0].strip() == name]
            if found:
                lines[found[0]] = line
            else:
                lines.append(line)
        main_cf.write_text("\n".join(lines) + "\n")

    # --- run -------------------------------------------------------------------------------
    def start(self) -> PostfixRelay:
        self.started = True  # from here on stop() has something to clean up, whatever happens
        done = subprocess.run(
            ["postfix", "-c", str(self.etc), "start"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (
            f"postfix start failed:\n{done.stdout}{done.stderr}\n{self.log()}"
        )
        wait_for(self._answers, what=f"postfix on port {self.port}\n{self.log()}")
        return self

    def _answers(self) -> bool:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=2) as client:
                return client.noop()[0] == 250
        except OSError:
            return False

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        try:
            wait_for(lambda: not self.processes(), timeout=10, what="postfix to stop")
        finally:
            for pid in self.processes():  # whatever did not go quietly
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def processes(self) -> list[int]:
        """Every live process of this instance: master and its children carry MAIL_CONFIG."""
        marker = f"MAIL_CONFIG={self.etc}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
        return found

    def __enter__(self) -> PostfixRelay:
        self.configure()
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- look inside ------------------------------------------------------------------------
    def flush(self) -> None:
        subprocess.run(["postqueue", "-c", str(self.etc), "-f"], check=True, timeout=30)

    def queued(self) -> list[dict]:
        """The queue as ``postqueue -j`` sees it: one dict per message."""
        out = subprocess.run(
            ["postqueue", "-c", str(self.etc), "-j"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def deferred(self) -> list[dict]:
        return [m for m in self.queued() if m["queue_name"] == "deferred"]

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return "(no mail log yet)"

    def client(self, source: str = "127.0.0.1", port: int | None = None) -> smtplib.SMTP:
        """An SMTP client of this Postfix, connecting from ``source`` (any 127.0.0.x)."""
        return smtplib.SMTP("127.0.0.1", port or self.port, timeout=10, source_address=(source, 0))


def _postfix_ids() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("postfix")
    return entry.pw_uid, entry.pw_gid


# --- pytest fixtures: import them into a test module to use them ---------------------------
@pytest.fixture
def ca_file(tls_ca, tmp_path):
    """The CA bundle Postfix is given: the trustme CA, as a system bundle would hold Gmail's."""
    path = tmp_path / "ca-bundle.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def make_postfix(tls_ca, ca_file):
    """Start a configured Postfix relaying to ``relay_port``; every one is stopped at teardown."""
    relays = []
    # Not under tmp_path: pytest keeps its parents private, and postfix's own user must
    # reach the queue and data directories below this one.
    scratch = Path(tempfile.mkdtemp(prefix="dinky-postfix-"))
    scratch.chmod(0o755)

    def make(relay_port: int, **env) -> PostfixRelay:
        variables = {
            "MAIL_DOMAIN": "example.org",
            "MAIL_HOSTNAME": "mail.example.org",
            "SMTP_RELAY_HOST": "localhost",
            "SMTP_RELAY_PORT": str(relay_port),
            "SMTP_RELAY_USERNAME": USERNAME,
            "SMTP_RELAY_PASSWORD": PASSWORD,
            "TLS_VERIFY": "yes",
            "TLS_CA_FILE": str(ca_file),
            **env,
        }
        relay = PostfixRelay(
            scratch / f"postfix{len(relays)}",
            variables,
            server_cert=tls_ca.issue_cert("localhost", "127.0.0.1"),
        )
        relay.root.mkdir()
        relays.append(relay)
        relay.configure()
        return relay.start()

    try:
        yield make
    finally:
        for relay in relays:
            relay.stop()
        shutil.rmtree(scratch)
    assert not any(relay.processes() for relay in relays)
