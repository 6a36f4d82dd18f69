"""Idempotency-Key: the stores' contract (SQLite and a real redis-server) and the HTTP behaviour."""

import threading
import time

import pytest
import redis

from dinky_falcon.app import create_app
from dinky_falcon.errors import ConfigError, TransportError
from dinky_falcon.hookspecs import hookimpl
from dinky_falcon.idempotency import (
    Answer,
    Outcome,
    RedisStore,
    SqliteStore,
    StoreUnavailable,
    fingerprint,
    open_store,
)
from dinky_falcon.mailer import Mailer
from dinky_falcon.plugins import make_plugin_manager
from support.clients import loopback_client
from support.redis_peer import RedisPeer
from support.samples import SEED_REQUEST
from support.smtp_peer import free_port

OK = Answer(200, {"success": True, "id": "<1@example.org>"})


@pytest.fixture(scope="module")
def shared_redis():
    """One redis-server for this module's tests; redis_url empties it for each test."""
    with RedisPeer() as peer:
        yield peer


@pytest.fixture
def redis_url(shared_redis):
    with redis.Redis.from_url(shared_redis.url) as client:
        client.flushdb()
    return shared_redis.url


class FakeClock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    """make_store(ttl, lease) -> (store, advance): ``advance(seconds)`` lets time pass."""
    stores = []

    def make(ttl=60, lease=30):
        if request.param == "sqlite":
            clock = FakeClock()
            store = SqliteStore(tmp_path / "idempotency.sqlite3", ttl, lease, clock=clock)

            def advance(seconds):
                clock.now += seconds
        else:
            store = RedisStore(request.getfixturevalue("redis_url"), ttl, lease)

            def advance(seconds):
                time.sleep(seconds)

        stores.append(store)
        return store, advance

    yield make
    for store in stores:
        store.close()


def test_a_new_key_is_started_and_then_in_progress(make_store):
    store, _ = make_store()
    assert store.claim("k", "body-1").outcome is Outcome.STARTED
    assert store.claim("k", "body-1").outcome is Outcome.IN_PROGRESS
    assert store.claim("k", "body-2").outcome is Outcome.MISMATCH
    assert store.claim("other", "body-1").outcome is Outcome.STARTED


def test_a_completed_key_replays_its_answer_and_refuses_another_body(make_store):
    store, _ = make_store()
    store.claim("k", "body-1")
    store.complete("k", "body-1", OK)
    assert store.claim("k", "body-1").outcome is Outcome.REPLAY
    assert store.claim("k", "body-1").answer == OK
    assert store.claim("k", "body-2").outcome is Outcome.MISMATCH
    store.release("k", "body-1")  # a late release does not undo a completion
    assert store.claim("k", "body-1").outcome is Outcome.REPLAY


def test_a_released_key_may_be_claimed_again(make_store):
    store, _ = make_store()
    store.claim("k", "body-1")
    store.release("k", "body-1")
    assert store.claim("k", "body-2").outcome is Outcome.STARTED


def test_a_claim_never_settled_lapses_into_outcome_unknown_not_a_fresh_claim(make_store):
    # Its process died, or could not record the send: the message may have gone out.
    store, advance = make_store(ttl=2, lease=1)
    store.claim("crashed", "body")
    store.claim("done", "body")
    store.complete("done", "body", OK)
    advance(1.2)
    lapsed = store.claim("crashed", "body")
    assert lapsed.outcome is Outcome.REPLAY
    assert (lapsed.answer.status, lapsed.answer.body["outcome"]) == (504, "unknown")
    assert store.claim("crashed", "other body").outcome is Outcome.MISMATCH
    assert store.claim("done", "body").outcome is Outcome.REPLAY
    advance(1.2)
    assert store.claim("done", "body").outcome is Outcome.STARTED
    assert store.claim("crashed", "body").outcome is Outcome.REPLAY  # a TTL after its lease
    advance(1)
    assert store.claim("crashed", "body").outcome is Outcome.STARTED


def test_of_many_threads_claiming_one_key_exactly_one_starts(make_store):
    store, _ = make_store()
    barrier = threading.Barrier(8)
    outcomes = []

    def claim():
        barrier.wait()
        outcomes.append(store.claim("k", "body").outcome)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for o in outcomes) == ["in progress"] * 7 + ["started"]


def test_two_sqlite_stores_on_one_file_see_each_others_keys(tmp_path):
    first = SqliteStore(tmp_path / "i.sqlite3", 60)
    second = SqliteStore(tmp_path / "i.sqlite3", 60)
    try:
        first.claim("k", "body")
        assert second.claim("k", "body").outcome is Outcome.IN_PROGRESS
        first.complete("k", "body", OK)
        assert second.claim("k", "body").answer == OK
    finally:
        first.close()
        second.close()


def test_the_fingerprint_ignores_key_order_but_not_values():
    assert fingerprint({"a": 1, "b": [1, "ä"]}) == fingerprint({"b": [1, "ä"], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": "1"})


def test_an_unreachable_redis_makes_the_store_unavailable():
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", 60)
    with pytest.raises(StoreUnavailable):
        store.claim("k", "body")


@pytest.mark.parametrize(
    "variables, fragment",
    [
        ({"IDEMPOTENCY_STORE": "memcached://127.0.0.1"}, "IDEMPOTENCY_STORE"),
        ({"IDEMPOTENCY_TTL": "0"}, "IDEMPOTENCY_TTL"),
    ],
)
def test_bad_idempotency_settings_stop_the_start(make_settings, variables, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_settings(**variables)


def test_a_data_dir_that_cannot_hold_the_store_stops_the_start(make_settings, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="DATA_DIR"):
        open_store(make_settings(DATA_DIR=str(tmp_path / "a-file")))


# --- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def app(make_settings):
    """(client, sent, store) for an app on the memory transport with the default SQLite store."""
    settings = make_settings()
    store = open_store(settings)
    mailer = Mailer.from_settings(settings)
    yield (
        loopback_client(create_app(settings, mailer=mailer, idempotency=store)),
        mailer.transports[0][1].sent,
        store,
    )
    store.close()


def post(client, body, key):
    return client.simulate_post("/send", json=body, headers={"Idempotency-Key": key})


def test_a_replay_answers_as_the_first_time_without_sending(app):
    client, sent, _ = app
    first = post(client, SEED_REQUEST, "order-1234")
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, dict(reversed(list(SEED_REQUEST.items()))), "order-1234")
    assert again.status_code == 200
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(sent) == 1


def test_the_same_key_with_another_body_is_a_422(app):
    client, sent, _ = app
    post(client, SEED_REQUEST, "k")
    result = post(client, dict(SEED_REQUEST, subject="Another"), "k")
    assert result.status_code == 422
    assert result.json["error"] == "Idempotency-Key reused"
    assert len(sent) == 1


def test_a_key_still_in_progress_is_a_409(app):
    client, sent, store = app
    store.claim("send::k", fingerprint(SEED_REQUEST))  # no API_KEYS: no label
    result = post(client, SEED_REQUEST, "k")
    assert result.status_code == 409
    assert result.json["error"] == "Request in progress"
    assert sent == []


def test_requests_without_a_key_are_never_deduplicated(app):
    client, sent, _ = app
    client.simulate_post("/send", json=SEED_REQUEST)
    client.simulate_post("/send", json=SEED_REQUEST)
    assert len(sent) == 2


def test_an_invalid_body_does_not_use_up_the_key(app):
    client, sent, _ = app
    assert post(client, dict(SEED_REQUEST, to="nobody"), "k").status_code == 422
    assert post(client, SEED_REQUEST, "k").status_code == 200
    assert len(sent) == 1


@pytest.mark.parametrize("key", ["", "x" * 257, "tab\there", "\x7f"])
def test_an_unusable_key_is_a_422(app, key):
    client, sent, _ = app
    result = post(client, SEED_REQUEST, key)
    assert result.status_code == 422
    assert "Idempotency-Key" in result.json["details"]
    assert sent == []


def test_a_key_of_256_printable_characters_is_accepted(app):
    client, _, _ = app
    assert post(client, SEED_REQUEST, "k" * 255 + "~").status_code == 200


class FailsOnce:
    """A transport whose first send fails as a temporarily unreachable upstream would."""

    def __init__(self, settings):
        self.sent = []

    def send(self, message, envelope):
        if not self.sent:
            self.sent.append(None)
            raise TransportError("upstream unreachable", temporary=True)
        self.sent.append(message)


class FailsOncePlugin:
    @hookimpl
    def register_transports(self, register):
        register("fails-once", FailsOnce)


def test_a_failed_send_frees_the_key_for_the_retry(make_settings):
    settings = make_settings(MAIL_TRANSPORT="fails-once")
    pm = make_plugin_manager(settings)
    pm.register(FailsOncePlugin())
    mailer = Mailer.from_settings(settings, pm)
    client = loopback_client(create_app(settings, mailer=mailer))
    assert post(client, SEED_REQUEST, "k").status_code == 503
    retry = post(client, SEED_REQUEST, "k")
    assert retry.status_code == 200
    assert "Idempotent-Replayed" not in retry.headers
    assert len(mailer.transports[0][1].sent) == 2


def test_replicas_sharing_redis_send_once(make_settings, redis_url):
    settings = make_settings(IDEMPOTENCY_STORE=redis_url)
    replicas = []
    for _ in range(2):
        mailer = Mailer.from_settings(settings)
        replicas.append(
            (loopback_client(create_app(settings, mailer=mailer)), mailer.transports[0][1].sent)
        )
    (first, first_sent), (second, second_sent) = replicas
    answer = post(first, SEED_REQUEST, "k")
    replay = post(second, SEED_REQUEST, "k")
    assert replay.json == answer.json
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (len(first_sent), len(second_sent)) == (1, 0)


def test_an_unreachable_store_is_a_503_and_nothing_is_sent(make_client):
    client, mailer = make_client(IDEMPOTENCY_STORE=f"redis://127.0.0.1:{free_port()}/0")
    result = post(client, SEED_REQUEST, "k")
    assert result.status_code == 503
    assert result.headers["Retry-After"] == "30"
    assert mailer.transports[0][1].sent == []
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200


def test_browsers_may_read_the_replay_marker(make_client):
    client, _ = make_client(ALLOWED_HOSTS="shop.example.org")
    origin = {"Origin": "https://shop.example.org", "Idempotency-Key": "k"}
    client.simulate_post("/send", json=SEED_REQUEST, headers=origin)
    replay = client.simulate_post("/send", json=SEED_REQUEST, headers=origin)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "idempotent-replayed" in replay.headers["Access-Control-Expose-Headers"].lower()
