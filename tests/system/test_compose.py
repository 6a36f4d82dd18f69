"""The compose file as `docker-compose config` resolves it, without starting anything.

Debian's docker-compose validates the file and prints it with every variable resolved from a
sample .env; the assertions read that result as Docker would. tests/test_stack.py runs the
stack itself.
"""

import os
import subprocess

import pytest
import yaml

from support.postfix_harness import REPO

COMPOSE = REPO / "compose" / "docker-compose.yml"

SAMPLE_ENV = """\
MAIL_DOMAIN=example.org
MAIL_HOSTNAME=mail.example.org
SMTP_RELAY_USERNAME=site@example.org
SMTP_RELAY_PASSWORD=abcd efgh $ijk:l
TRAEFIK_ENTRYPOINT=websecure
ENABLE_TLS=false
API_KEYS=site-key-1
TRUSTED_PROXIES=172.16.0.0/12
SMTP_HOST=localhost
PORT=8080
PLUGINS_DIR=./plugins
"""


def compose_config(tmp_path, env_text: str = SAMPLE_ENV) -> dict:
    env_file = tmp_path / "sample.env"
    env_file.write_text(env_text)
    done = run_compose_config(env_file)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def run_compose_config(env_file, *overrides):
    """`docker-compose config` with env_file both for interpolation and for the API's env_file
    (``overrides``: more files after the base one, e.g. compose/dkim.yml)."""
    files = [option for file in (COMPOSE, *overrides) for option in ("-f", str(file))]
    return subprocess.run(
        ["docker-compose", "--env-file", str(env_file), *files, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=env_file.parent,
        env={**os.environ, "ENV_FILE": str(env_file)},
    )


@pytest.fixture
def stack(tmp_path):
    return compose_config(tmp_path)["services"]


def test_the_api_is_routed_by_traefik_to_port_20001_on_the_configured_entrypoint(stack):
    api = stack["mail-api"]
    labels = api["labels"]
    assert labels["traefik.enable"] == "true"
    assert labels["traefik.http.routers.dinky-mail-api.rule"] == "Host(`mail-api.local`)"
    assert labels["traefik.http.routers.dinky-mail-api.entrypoints"] == "websecure"
    assert labels["traefik.http.routers.dinky-mail-api.tls"] == "false"
    assert labels["traefik.http.services.dinky-mail-api.loadbalancer.server.port"] == "20001"
    assert labels["traefik.docker.network"] == "traefik"
    assert set(api["networks"]) == {"mail", "traefik"}
    assert "ports" not in api  # reachable through Traefik only
    assert api["environment"]["PORT"] == "20001"


def test_the_api_hands_mail_to_the_relay_container(stack):
    env = stack["mail-api"]["environment"]
    # The stack's own wiring wins over what a local .env says (SMTP_HOST=localhost, PORT=8080).
    assert (env["MAIL_TRANSPORT"], env["SMTP_HOST"], env["SMTP_PORT"]) == (
        "postfix",
        "mail-server",
        "25",
    )
    assert (env["PORT"], env["PLUGINS_DIR"]) == ("20001", "/app/plugins")
    assert stack["mail-api"]["depends_on"]["mail-server"]["condition"] == "service_healthy"


def test_the_relay_publishes_its_ports_on_loopback_only(stack):
    ports = stack["mail-server"]["ports"]
    assert sorted(ports) == ["127.0.0.1:25:25/tcp", "127.0.0.1:587:587/tcp"]
    assert stack["mail-server"]["networks"] == {"mail": None}


def test_the_queue_lives_on_a_named_volume(tmp_path):
    config = compose_config(tmp_path)
    assert "mail-queue:/var/spool/postfix:rw" in config["services"]["mail-server"]["volumes"]
    assert config["volumes"]["mail-queue"]["name"] == "dinky_mail-queue"


def test_idempotency_keys_live_on_a_named_volume(tmp_path):
    config = compose_config(tmp_path)
    api = config["services"]["mail-api"]
    assert api["environment"]["DATA_DIR"] == "/app/data"
    assert "api-data:/app/data:rw" in api["volumes"]
    assert config["volumes"]["api-data"]["name"] == "dinky_api-data"


def test_both_services_have_healthchecks(stack):
    api_check = " ".join(stack["mail-api"]["healthcheck"]["test"])
    assert "http://127.0.0.1:20001/health" in api_check and "python" in api_check
    relay_check = " ".join(stack["mail-server"]["healthcheck"]["test"])
    assert "10025" in relay_check and "'^220 '" in relay_check


def test_container_names_follow_project(tmp_path, stack):
    assert stack["mail-api"]["container_name"] == "dinky_mail-api"
    assert stack["mail-server"]["container_name"] == "dinky_mail-server"
    services = compose_config(tmp_path, SAMPLE_ENV + "PROJECT=shop\n")["services"]
    assert services["mail-api"]["container_name"] == "shop_mail-api"
    assert services["mail-server"]["container_name"] == "shop_mail-server"
    assert "traefik.http.routers.shop-mail-api.rule" in services["mail-api"]["labels"]


def test_both_services_get_the_relay_settings_untouched(stack):
    for name in ("mail-api", "mail-server"):
        env = stack[name]["environment"]
        # docker-compose config shows a literal $ as $$; the container sees one $.
        assert env["SMTP_RELAY_PASSWORD"].replace("$$", "$") == "abcd efgh $ijk:l"
        assert env["SMTP_RELAY_USERNAME"] == "site@example.org"
    relay_env = stack["mail-server"]["environment"]
    assert (relay_env["SMTP_RELAY_HOST"], relay_env["SMTP_RELAY_PORT"]) == ("smtp.gmail.com", "587")
    assert relay_env["TLS_VERIFY"] == "yes"
    assert stack["mail-server"]["environment"]["MYNETWORKS"] == ""  # the stack's network


def test_the_api_gets_every_variable_of_the_env_file(stack):
    env = stack["mail-api"]["environment"]
    assert env["API_KEYS"] == "site-key-1" and env["TRUSTED_PROXIES"] == "172.16.0.0/12"
    assert "API_KEYS" not in stack["mail-server"]["environment"]


def test_mail_domain_is_required(tmp_path):
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    done = run_compose_config(env_file)
    assert done.returncode != 0 and "MAIL_DOMAIN" in done.stderr


def test_dkim_yml_hands_the_api_the_host_key_as_a_secret_and_its_in_container_path(tmp_path):
    env_file = tmp_path / "sample.env"
    env_file.write_text(SAMPLE_ENV + "DKIM_PRIVATE_KEY_FILE=/etc/dinky/dkim.pem\n")
    done = run_compose_config(env_file, REPO / "compose" / "dkim.yml")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["secrets"] == {"dkim-key": {"file": "/etc/dinky/dkim.pem"}}
    api = config["services"]["mail-api"]
    assert api["secrets"] == [{"source": "dkim-key"}]  # mounted at /run/secrets/dkim-key
    assert api["environment"]["DKIM_PRIVATE_KEY_FILE"] == "/run/secrets/dkim-key"
    assert "secrets" not in config["services"]["mail-server"]


def test_dkim_yml_without_a_key_in_the_env_says_what_to_set(tmp_path):
    env_file = tmp_path / "sample.env"
    env_file.write_text(SAMPLE_ENV)
    done = run_compose_config(env_file, REPO / "compose" / "dkim.yml")
    assert done.returncode != 0
    assert "set DKIM_PRIVATE_KEY_FILE in .env to the key's absolute path" in done.stderr
