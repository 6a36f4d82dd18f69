"""The development sink: one atomically written, parseable .eml per message."""

import errno
import os
import re
import stat
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


def _record_disk_calls(monkeypatch):
    """What the sink asks of the disk, in order: fsync of a file or a directory, renames."""
    calls = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(fd):
        calls.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        return fsync(fd)

    def recording_replace(source, target):
        name = Path(target).name
        calls.append("rename envelope" if name.endswith(".envelope.json") else "rename eml")
        return replace(source, target)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    return calls


def test_contents_are_fsynced_before_the_renames_and_the_directory_once_after(
    make_client, tmp_path, monkeypatch
):
    client, _ = make_client(MAIL_TRANSPORT="file")
    calls = _record_disk_calls(monkeypatch)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    # Both files' contents on disk, the envelope renamed before the .eml, then one fsync of
    # the directory for both renames, before the 200.
    assert calls == ["fsync file", "fsync file", "rename envelope", "rename eml", "fsync dir"]
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(names) == 2 and names[0].endswith(".eml") and names[1].endswith(".envelope.json")
    assert names[0][: -len(".eml")] == names[1][: -len(".envelope.json")]


def test_a_failed_write_leaves_neither_file_nor_temporary_file(make_client, tmp_path, monkeypatch):
    client, _ = make_client(MAIL_TRANSPORT="file")
    fsync, count = os.fsync, []

    def failing_second_fsync(fd):
        count.append(fd)
        if len(count) == 2:  # the .eml's content
            raise OSError(errno.ENOSPC, "No space left on device")
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_second_fsync)
    result = client.simulate_post("/send", json=SEED_REQUEST)
    assert result.status_code == 503  # temporary: the client may retry
    assert "No space left on device" in result.json["details"]
    assert list((tmp_path / "outbox").iterdir()) == []
    monkeypatch.setattr(os, "fsync", fsync)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    assert len(list((tmp_path / "outbox").iterdir())) == 2
