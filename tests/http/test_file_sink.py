"""The development sink: one atomically written, parseable .eml per message."""

import errno
import json
import os
import re
from pathlib import Path

import pytest

from dinky_falcon.errors import ConfigError
from dinky_falcon.mailer import Mailer
from support.samples import SEED_REQUEST, parse_mail


def test_each_message_becomes_one_eml_named_by_time_and_id(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    first = client.simulate_post("/send", json=SEED_REQUEST).json
    second = client.simulate_post("/send", json=dict(SEED_REQUEST, subject="Again")).json
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[\w.@-]+\.eml", f.name) for f in files)
    assert all(f.with_suffix(".envelope.json").is_file() for f in files)
    parsed = [parse_mail(f.read_bytes()) for f in files]
    assert {p["Message-ID"] for p in parsed} == {first["id"], second["id"]}
    assert {p["Subject"] for p in parsed} == {"Test Email", "Again"}
    assert first["transport"] == "file"


def test_no_temporary_files_are_left_behind(make_client, tmp_path):
    client, _ = make_client(MAIL_TRANSPORT="file")
    for _ in range(5):
        client.simulate_post("/send", json=SEED_REQUEST)
    names = [p.name for p in (tmp_path / "outbox").iterdir()]
    assert len(names) == 10  # five .eml files and their .envelope.json
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


def test_the_envelope_is_whole_before_the_eml_appears_and_no_request_waits_for_the_disk(
    make_client, tmp_path, monkeypatch
):
    client, _ = make_client(MAIL_TRANSPORT="file")
    outbox, replace, seen = tmp_path / "outbox", os.replace, []

    def watching_replace(source, target):
        # What the outbox page would find at the moment the .eml appears under its name.
        envelope = Path(str(target)[: -len(".eml")] + ".envelope.json")
        seen.append((Path(target).name, json.loads(envelope.read_text())))
        return replace(source, target)

    def no_fsync(fd):
        raise AssertionError("a request waited for the disk")

    monkeypatch.setattr(os, "replace", watching_replace)
    monkeypatch.setattr(os, "fsync", no_fsync)
    answer = client.simulate_post("/send", json=SEED_REQUEST)
    assert answer.status_code == 200
    ((name, envelope),) = seen
    assert name.endswith(".eml") and envelope["message_id"] == answer.json["id"]
    assert envelope["recipients"] == ["recipient@example.org"]
    names = sorted(p.name for p in outbox.iterdir())
    assert names == [name, name[: -len(".eml")] + ".envelope.json"]


@pytest.mark.parametrize("failing", ["the .eml's write", "the .eml's rename"])
def test_a_failed_write_leaves_neither_file_nor_temporary_file(
    make_client, tmp_path, monkeypatch, failing
):
    client, _ = make_client(MAIL_TRANSPORT="file")
    write, replace, writes = os.write, os.replace, []

    def failing_second_write(fd, data):
        writes.append(fd)
        if len(writes) == 2:  # the envelope is written first, then the .eml
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, data)

    def failing_replace(source, target):
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "the .eml's write":
        monkeypatch.setattr(os, "write", failing_second_write)
    else:
        monkeypatch.setattr(os, "replace", failing_replace)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503  # temporary: the client may retry
    assert "No space left on device" in result.json["details"]
    assert list((tmp_path / "outbox").iterdir()) == []
    monkeypatch.setattr(os, "write", write)
    monkeypatch.setattr(os, "replace", replace)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(list((tmp_path / "outbox").iterdir())) == 2
