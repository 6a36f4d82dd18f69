"""What an idle service holds: libraries only a command or a first request of a kind needs
are not imported at start (bench/RESULTS.md: each costs memory in every replica)."""

import json
import subprocess
import sys

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
