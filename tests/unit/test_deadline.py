"""The send deadline (transports/deadline.py) on real connections to an aiosmtpd peer: it still
bounds a send on a pooled connection, and costs a send nothing it need not (issue #19)."""

from __future__ import annotations

import errno
import gc
import os
import resource
import smtplib
import ssl
import time
import weakref

import pytest

from dinky_falcon.transports.deadline import Deadline
from dinky_falcon.transports.smtp import IMPLICIT, PLAIN, Endpoint, SmtpTransport
from dinky_falcon.transports.smtp_session import open_connection
from support.smtp_peer import SmtpPeer


@pytest.fixture
def peer():
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def transport(peer):
    endpoint = Endpoint(host=peer.host, port=peer.port, tls=PLAIN, timeout=5, local_hostname="test")
    transport = SmtpTransport(endpoint, pool_size=2)
    transport.pool.run(lambda connection: connection.noop())  # one pooled connection
    yield transport
    transport.close()


def descriptors_to(peer: SmtpPeer) -> int:
    """Our descriptors on a TCP socket to ``peer`` (a duplicate counts again)."""
    inodes = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == peer.port:
            inodes.add(fields[9])
    return sum(_socket_inode(fd) in inodes for fd in os.listdir("/proc/self/fd"))


def _socket_inode(fd: str) -> str | None:
    try:
        link = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:  # listdir's own descriptor, closed since
        return None
    return link[len("socket:[") : -1] if link.startswith("socket:[") else None


def test_a_reused_connection_is_cut_when_its_send_deadline_is_up(transport):
    started = time.monotonic()
    with Deadline(0.3) as deadline, pytest.raises(smtplib.SMTPServerDisconnected):
        # The peer says nothing more: only the deadline, not the 5 s timeout, ends the wait.
        transport.pool.run(lambda connection: connection.getreply(), deadline)
    assert deadline.expired
    assert time.monotonic() - started < 2


def test_a_send_on_a_pooled_connection_opens_no_descriptor(transport, peer):
    before = descriptors_to(peer)  # the connection and the duplicate its deadlines cut
    during = []
    with Deadline(5) as deadline:
        transport.pool.run(lambda connection: during.append(descriptors_to(peer)), deadline)
    assert during == [before]


def test_closing_the_pool_leaves_no_descriptor_open(transport, peer):
    for _ in range(3):
        transport.check()
    assert descriptors_to(peer) > 0
    transport.close()
    assert descriptors_to(peer) == 0


def test_an_ended_deadline_is_let_go_at_once():
    with Deadline(30) as deadline:
        pass
    ended = weakref.ref(deadline)
    del deadline
    gc.collect()
    assert ended() is None  # not held for its 30 s by the watchdog


def test_a_deadline_sooner_than_the_watchdog_waits_for_expires_on_time():
    with Deadline(30) as late, Deadline(0.2) as soon:
        time.sleep(0.5)
        assert soon.expired and not late.expired


def test_a_deadline_that_comes_after_an_ended_one_still_expires_on_time():
    with Deadline(0.2):
        pass  # the watchdog now waits for a deadline that has ended
    with Deadline(0.4) as later:
        time.sleep(0.3)
        assert not later.expired
        time.sleep(0.4)
        assert later.expired


def test_a_refused_implicit_tls_handshake_leaves_no_descriptor_open():
    # A plain SMTP server on the port that TLS from the first byte expects (a wrong SMTP_PORT).
    with SmtpPeer() as peer:
        endpoint = Endpoint(
            host=peer.host,
            port=peer.port,
            tls=IMPLICIT,
            timeout=5,
            local_hostname="test",
            verify=False,
        )
        with Deadline(5) as deadline, pytest.raises(ssl.SSLError) as refused:
            open_connection(endpoint, deadline=deadline)
        # Still held by the error (as a log record or a chained error holds it): not left
        # to the garbage collector to close.
        assert refused.value is not None
        assert descriptors_to(peer) == 0


def test_a_connection_without_a_descriptor_left_for_its_duplicate_closes_its_socket(peer):
    endpoint = Endpoint(host=peer.host, port=peer.port, tls=PLAIN, timeout=5, local_hostname="test")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    free = [fd for fd in range(soft) if not os.path.exists(f"/proc/self/fd/{fd}")]
    # One descriptor left below the limit: the socket gets it, its duplicate cannot.
    resource.setrlimit(resource.RLIMIT_NOFILE, (free[1], hard))
    try:
        with pytest.raises(OSError) as failed:
            open_connection(endpoint)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert failed.value.errno == errno.EMFILE
    assert descriptors_to(peer) == 0  # while the error is still held
