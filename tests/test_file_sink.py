"""The development sink: one atomically written, parseable .eml per message."""

import re
import pytest

from conftest import SEED_REQUEST, parse_mail
from dinky_falcon.errors import ConfigError
from dinky_falcon.mailer import Mailer


def test_each_message_becomes_one_eml_named_by_time_and_id(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    first = client.simulate_post("/send", json=SEED_REQUEST).json
    second = client.simulate_post("/send", json=dict(SEED_REQUEST, subject="Again")).json
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert all(f.with_name(f.name[:-4] + ".envelope.json").exists() for f in files)
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[\w.@-]+\.eml", f.name) for f in files)
    parsed = [parse_mail(f.read_bytes()) for f in files]
    assert {p["Message-ID"] for p in parsed} == {first["id"], second["id"]}
    assert {p["Subject"] for p in parsed} == {"Test Email", "Again"}
    assert first["transport"] == "file"


def test_no_temporary_files_are_left_behind(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    for _ in range(5):
        client.simulate_post("/send", json=SEED_REQUEST)
    names = [p.name for p in (tmp_path / "outbox").iterdir()]
    assert len(names) == 10  # each .eml with its .envelope.json
    assert not [n for n in names if n.startswith(".")]


def test_an_outbox_that_cannot_be_created_stops_the_service_at_start(make_settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = make_settings(MAIL_TRANSPORT="file", OUTBOX_DIR=str(blocker / "outbox"))
    with pytest.raises(ConfigError, match="OUTBOX_DIR=.* cannot be written"):
        Mailer.from_settings(settings)


def test_a_vanished_outbox_is_a_503_the_caller_can_retry(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    outbox = tmp_path / "outbox"
    outbox.rmdir()
    outbox.write_text("now a file")
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503
    assert result.headers["Retry-After"]
    assert "outbox" in result.json["details"]
