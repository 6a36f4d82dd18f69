"""The SMTP pool (transports/smtp_pool.py) keeps no connection open once it is closed."""

import threading

from dinky_falcon.transports.smtp import PLAIN, Endpoint, SmtpTransport
from support.smtp_peer import SmtpPeer


class _CloseSlipsIn:
    """The pool's lock; the first time it is taken once ``armed``, the pool's ``close()`` runs
    to its end in another thread first: a close() that comes between a put-back's start and
    its taking the lock."""

    def __init__(self, pool):
        self._lock = threading.Lock()
        self._pool = pool
        self.armed = False

    def __enter__(self):
        if self.armed:
            self.armed = False
            closer = threading.Thread(target=self._pool.close)
            closer.start()
            closer.join(5)
        self._lock.acquire()

    def __exit__(self, *exc_info):
        self._lock.release()


def test_a_connection_put_back_while_the_pool_closes_is_closed_not_kept():
    with SmtpPeer() as peer:
        endpoint = Endpoint(
            host=peer.host, port=peer.port, tls=PLAIN, timeout=5, local_hostname="test"
        )
        pool = SmtpTransport(endpoint, pool_size=1).pool
        pool._lock = lock = _CloseSlipsIn(pool)
        used = []

        def work(connection):
            used.append(connection)
            lock.armed = True  # the next taking of the lock is the put-back's
            return connection.noop()

        pool.run(work)
        assert pool.idle_count == 0
        assert used[0].sock is None  # closed (QUIT), not left open in a closed pool
