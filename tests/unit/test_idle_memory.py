"""What an idle service holds: libraries only a command or a first request of a kind needs
are not imported at start (bench/RESULTS.md: each costs memory in every replica)."""

import json
import ssl
import subprocess
import sys

from dinky_falcon.mailer import Mailer

# What `dinky-mail serve` imports and builds before its first request, in a fresh process.
START = """
import json, sys
from dinky_falcon.app import create_app
from dinky_falcon.cli import build_parser  # noqa: F401 - what the command line loads
from dinky_falcon.config.settings import Settings
create_app(Settings.from_env(env_file=None, environ={
    "ENVIRONMENT": "production", "MAIL_DOMAIN": "example.org", "MAIL_TRANSPORT": "file",
    "DATA_DIR": sys.argv[1], "OUTBOX_DIR": sys.argv[1],
}))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_at_start(tmp_path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", START, str(tmp_path)], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def test_an_idle_service_has_not_loaded_dnspython_nor_apispec(tmp_path):
    # dnspython is for `dinky-mail dns --check`, apispec for the first GET /openapi.json.
    assert {"dns", "apispec"} & loaded_at_start(tmp_path) == set()


def test_the_openapi_document_is_built_at_its_first_request_and_kept(make_client):
    client, _ = make_client()
    first = client.simulate_get("/openapi.json")
    assert first.status_code == 200
    assert first.json["openapi"] == "3.1.0"
    assert client.simulate_get("/openapi.json").json == first.json


# An app as `serve` builds it, asked for /health, then scraped: which libraries are loaded when.
HEALTH_THEN_SCRAPE = """
import json, sys
from falcon import testing
from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings
client = testing.TestClient(create_app(Settings.from_env(env_file=None, environ={
    "ENVIRONMENT": "production", "MAIL_DOMAIN": "example.org", "MAIL_TRANSPORT": "file",
    "DATA_DIR": sys.argv[1], "OUTBOX_DIR": sys.argv[1],
})))
health = client.simulate_get("/health").status_code
idle = "prometheus_client" in sys.modules
scrape = client.simulate_get("/metrics")
print(json.dumps([health, idle, scrape.status_code, scrape.text]))
"""


def test_an_idle_service_has_not_loaded_prometheus_client_and_its_first_scrape_works(tmp_path):
    # prometheus_client costs about 1 MB: it builds the text of the first /metrics scrape.
    done = subprocess.run(
        [sys.executable, "-c", HEALTH_THEN_SCRAPE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    health, loaded_when_idle, scrape_status, text = json.loads(done.stdout)
    assert health == 200
    assert loaded_when_idle is False
    assert scrape_status == 200
    # The /health request is counted, and the counter without labels is there at 0.
    assert 'dinky_mail_http_requests_total{route="/health",status="200"} 1.0' in text
    assert "dinky_mail_duplicates_total 0.0" in text


def test_the_relay_loads_the_ca_certificates_at_its_first_connection_not_at_start(
    make_settings,
):
    # ssl.create_default_context() reads the system's CA store: 1.8 MB for every replica.
    settings = make_settings(
        MAIL_TRANSPORT="gmail",
        SMTP_RELAY_HOST="127.0.0.1",
        SMTP_RELAY_PORT="2525",
        SMTP_RELAY_USERNAME="site@example.org",
        SMTP_RELAY_PASSWORD="app-password-1234",
        TLS_VERIFY="no",
    )
    endpoint = Mailer.from_settings(settings).transports[0][1].endpoint
    assert "context" not in vars(endpoint)  # nothing loaded while idle
    assert endpoint.context.verify_mode == ssl.CERT_NONE  # made when a connection needs it
