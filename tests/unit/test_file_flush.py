"""The file sink syncs its outbox in the background: within the interval, at close, and a
failed sync is reported and stops the sink taking mail it could not keep."""

import errno
import logging
import os
import time

import pytest

from dinky_falcon.errors import TransportError
from dinky_falcon.transports import file_flush
from support.transport_contract import build_transport, make_message


@pytest.fixture
def syncs(monkeypatch):
    """The real sync, recording the .eml files the outbox held at each one; ``failing`` set
    makes each sync fail with EIO instead."""

    class Syncs(list):
        failing = False

    recorded, real = Syncs(), file_flush._sync_filesystem()

    def recording_sync(descriptor):
        if recorded.failing:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(descriptor)
        recorded.append(sorted(name for name in os.listdir(descriptor) if name.endswith(".eml")))

    monkeypatch.setattr(file_flush, "_sync_filesystem", lambda: recording_sync)
    return recorded


@pytest.fixture
def transport(tmp_path):
    transport = build_transport("file", OUTBOX_DIR=str(tmp_path / "outbox"))
    yield transport
    transport.close()


def eventually(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:g} s"
        time.sleep(0.01)


def test_messages_written_together_share_one_sync_soon_after(transport, syncs):
    names = [transport.send(*make_message(subject=f"n{i}")).name for i in range(20)]
    eventually(lambda: syncs and set(names) <= set(syncs[-1]))
    assert len(syncs) < len(names)  # not a sync per message: that was the cost


def test_close_syncs_every_message_written_before_it(transport, syncs):
    transport.flusher.interval = 60  # the thread would not get to it
    name = transport.send(*make_message(subject="s")).name
    transport.close()
    assert syncs and name in syncs[-1]


def test_a_message_written_after_close_is_synced_before_send_returns(transport, syncs):
    transport.close()
    name = transport.send(*make_message(subject="s")).name
    assert syncs and name in syncs[-1]


def test_a_failed_sync_is_logged_and_refuses_mail_until_a_sync_succeeds(transport, syncs, caplog):
    syncs.failing = True
    transport.send(*make_message(subject="written, not yet synced"))
    eventually(lambda: transport.flusher.error is not None)
    assert "could not be synced to disk (Input/output error)" in caplog.text
    assert [r.levelno for r in caplog.records] == [logging.ERROR]  # once, not at each retry
    with pytest.raises(TransportError, match="could not be synced") as refused:
        transport.send(*make_message(subject="refused"))
    assert refused.value.temporary  # 503: the caller may retry
    with pytest.raises(TransportError, match="could not be synced"):
        transport.check()
    syncs.failing = False  # retried every interval
    eventually(lambda: transport.flusher.error is None)
    transport.check()
    transport.send(*make_message(subject="accepted again"))


def test_a_sync_that_fails_at_close_is_raised_not_swallowed(transport, syncs):
    transport.flusher.interval = 60
    transport.send(*make_message(subject="s"))
    syncs.failing = True
    with pytest.raises(TransportError, match="could not be synced to disk: Input/output error"):
        transport.close()


def test_the_system_sync_reports_its_failure():
    with pytest.raises(OSError) as failed:
        file_flush._sync_filesystem()(-1)  # not a descriptor
    assert failed.value.errno == errno.EBADF


def test_every_sync_goes_through_a_descriptor_held_since_the_sink_started(tmp_path, monkeypatch):
    # syncfs reports a failed write-back only to descriptors opened before the failure: one
    # opened for each sync would miss what failed in the interval before it.
    used, real = [], file_flush._sync_filesystem()

    def recording_sync(descriptor):
        used.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(file_flush, "_sync_filesystem", lambda: recording_sync)
    transport = build_transport("file", OUTBOX_DIR=str(tmp_path / "outbox"))
    try:
        open_at_start = set(os.listdir("/proc/self/fd"))
        for subject in ("one", "two"):
            before = len(used)
            transport.send(*make_message(subject=subject))
            eventually(lambda before=before: len(used) > before)
        assert {str(descriptor) for descriptor in used} <= open_at_start
        assert os.path.samestat(os.fstat(used[0]), os.stat(transport.directory))
    finally:
        transport.close()
