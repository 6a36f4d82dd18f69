"""SMTP_TIMEOUT bounds the lookup of the SMTP host's name too.

The peer is a DNS server that takes queries and never answers, on 127.0.0.1:53 of a network
namespace of the test's own (``unshare --net --mount``), where /etc/resolv.conf names it; the
system resolver alone would wait 5 s per attempt, twice.
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, socket, sys, time
from falcon import testing
from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings

silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
silent.bind(("127.0.0.1", 53))
settings = Settings.from_env({
    "ENVIRONMENT": "development", "MAIL_DOMAIN": "example.org", "DATA_DIR": sys.argv[1],
    "MAIL_TRANSPORT": "postfix", "SMTP_HOST": "mail.example.net", "SMTP_TIMEOUT": "1",
}, env_file=None)
client = testing.TestClient(create_app(settings), headers={"Host": "localhost"})
started = time.monotonic()
result = client.simulate_post("/send", json={"to": "ada@example.org", "subject": "Hi", "body": "x"})
print(json.dumps({"status": result.status_code, "details": result.json["details"],
                  "seconds": time.monotonic() - started}))
"""


def test_a_resolver_that_never_answers_is_a_503_within_smtp_timeout(tmp_path):
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
    script = (
        f'ip link set lo up && mount --bind "{resolv_conf}" /etc/resolv.conf && '
        f'exec "{sys.executable}" -c "$CHILD" "{tmp_path / "data"}"'
    )
    done = subprocess.run(
        ["unshare", "--net", "--mount", "sh", "-c", script],
        env={**os.environ, "CHILD": CHILD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["status"] == 503
    assert outcome["details"] == (
        "the host name mail.example.net could not be resolved within 1 s (SMTP_TIMEOUT): "
        "check SMTP_HOST and that the DNS resolver answers."
    )
    assert outcome["seconds"] < 4  # not the resolver's own 10 s


def test_a_host_given_by_name_is_looked_up_and_reached(make_client, smtp_server):
    client, _ = make_client(
        MAIL_TRANSPORT="postfix", SMTP_HOST="localhost", SMTP_PORT=str(smtp_server.port)
    )
    result = client.simulate_post(
        "/send", json={"to": "ada@example.org", "subject": "Hi", "body": "x"}
    )
    assert result.status_code == 200, result.json
    assert smtp_server.messages[0].rcpt_tos == ("ada@example.org",)
