"""Nothing sent twice, nothing lost: outcomes the caller can act on, through the real SMTP
transports, the real idempotency stores (SQLite and redis-server) and the app.

The SMTP peer here keeps the message and then loses its final reply (it hangs up, or answers
after SMTP_TIMEOUT), or never finishes its greeting: the cases where "retry later" would send
a second copy, or where a worker would be held for as long as the server likes.
"""

import threading
import time
from email import message_from_bytes

import pytest
import redis

from dinky_falcon.app import create_app
from dinky_falcon.hookspecs import hookimpl
from dinky_falcon.idempotency import RedisStore
from dinky_falcon.mailer import Mailer
from dinky_falcon.plugins import make_plugin_manager
from support.clients import loopback_client
from support.form_client import JSON, submit, urlencoded
from support.samples import SEED_REQUEST
from support.smtp_peer import SmtpPeer

SHOP_KEY = "shop-key-0123456789abcdef"
BLOG_KEY = "blog-key-0123456789abcdef"


@pytest.fixture(params=["bdat", "data"])
def peer(request):
    """The local relay stand-in: BDAT (CHUNKING offered) or DATA (not offered)."""
    with SmtpPeer(chunking=request.param == "bdat") as peer:
        yield peer


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    """IDEMPOTENCY_STORE: empty for the SQLite file under DATA_DIR, or a real redis-server."""
    if request.param == "sqlite":
        return {}
    return {"IDEMPOTENCY_STORE": request.getfixturevalue("redis_server").url}


def postfix(peer, **variables) -> dict:
    return {
        "MAIL_TRANSPORT": "postfix",
        "SMTP_HOST": peer.host,
        "SMTP_PORT": str(peer.port),
        "SMTP_TIMEOUT": "1",
        **variables,
    }


def post(client, key=None, api_key=None):
    headers = {"Idempotency-Key": key} if key else {}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return client.simulate_post("/send", json=SEED_REQUEST, headers=headers)


def delivered_ids(peer) -> list[str]:
    return [message_from_bytes(m.data)["Message-ID"] for m in peer.messages]


def assert_outcome_unknown(answer, peer):
    assert answer.status_code == 504, answer.json
    assert answer.json["success"] is False
    assert answer.json["outcome"] == "unknown"
    assert answer.json["id"] == delivered_ids(peer)[-1]  # what the caller can look for
    assert "Retry-After" not in answer.headers


def test_a_lost_final_reply_is_answered_outcome_unknown_and_never_sent_twice(
    make_client, peer, store
):
    client, _ = make_client(**postfix(peer, **store))
    peer.hang_up_after_data = True  # the message is queued, the 250 never arrives
    first = post(client, "order-1002")
    assert_outcome_unknown(first, peer)
    peer.hang_up_after_data = False
    retry = post(client, "order-1002")
    assert retry.status_code == 504
    assert retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(peer.messages) == 1


def test_a_final_reply_slower_than_smtp_timeout_is_outcome_unknown(make_client, peer):
    client, _ = make_client(**postfix(peer))
    peer.final_reply_delay = 1.5  # SMTP_TIMEOUT is 1
    answer = post(client, "order-1003")
    assert_outcome_unknown(answer, peer)
    peer.final_reply_delay = 0
    assert post(client, "order-1003").json == answer.json
    assert len(peer.messages) == 1


def test_an_unknown_outcome_without_a_key_is_answered_as_such(make_client, peer):
    client, _ = make_client(**postfix(peer))
    peer.hang_up_after_data = True
    assert_outcome_unknown(post(client), peer)


def test_an_unknown_outcome_is_never_failed_over(make_client, peer, gmail_server, trusted_ca):
    client, _ = make_client(
        **postfix(
            peer,
            MAIL_TRANSPORT="postfix,gmail",
            SMTP_RELAY_HOST=gmail_server.host,
            SMTP_RELAY_PORT=str(gmail_server.port),
            SMTP_RELAY_USERNAME="site@example.org",
            SMTP_RELAY_PASSWORD="abcdefghijklmnop",
        )
    )
    peer.hang_up_after_data = True
    assert_outcome_unknown(post(client, "order-1004"), peer)
    assert gmail_server.messages == []  # a second transport would deliver a second copy
    assert len(peer.messages) == 1


def test_a_server_that_trickles_its_greeting_is_cut_off_by_the_send_deadline(make_client):
    with SmtpPeer(greeting_trickle=0.4) as tarpit:  # each line well within SMTP_TIMEOUT
        client, _ = make_client(**postfix(tarpit))  # SMTP_TIMEOUT=1: the deadline is 3 s
        answers = []
        started = time.monotonic()
        sender = threading.Thread(target=lambda: answers.append(post(client, "order-1005")))
        sender.start()
        sender.join(timeout=8)
        elapsed = time.monotonic() - started
        assert answers, "the send was still held by the tarpit after 8 s"
    (answer,) = answers
    assert answer.status_code == 503, answer.json
    assert "3 s" in answer.json["details"]
    assert elapsed < 4.5


class BreaksTheStoreAfterSending:
    """After the message is built and before it is sent, the redis primary stops taking
    writes (as one does that lost its replicas): the send succeeds, recording it fails."""

    def __init__(self, url):
        self.url = url

    @hookimpl
    def before_send(self, message, envelope, settings):
        with redis.Redis.from_url(self.url) as admin:
            admin.config_set("min-replicas-to-write", 1)


def test_a_sent_message_whose_record_failed_never_becomes_a_fresh_claim(
    make_settings, redis_server
):
    settings = make_settings(IDEMPOTENCY_STORE=redis_server.url)
    pm = make_plugin_manager(settings)
    pm.register(BreaksTheStoreAfterSending(redis_server.url))
    mailer = Mailer.from_settings(settings, pm)
    store = RedisStore(redis_server.url, ttl=60, lease=1)
    client = loopback_client(create_app(settings, mailer=mailer, idempotency=store))
    sent = mailer.transports[0][1].sent
    try:
        first = post(client, "order-1006")
        assert first.status_code == 200  # sent: the caller is told so
        with redis.Redis.from_url(redis_server.url) as admin:
            admin.config_set("min-replicas-to-write", 0)
        assert post(client, "order-1006").status_code == 409  # still within the lease
        time.sleep(1.2)  # the lease is over, and the store never heard that it was sent
        later = post(client, "order-1006")
        assert later.status_code == 504
        assert later.json["outcome"] == "unknown"
        assert len(sent) == 1
    finally:
        store.close()


def test_two_api_keys_using_the_same_idempotency_key_both_send(make_client):
    client, mailer = make_client(API_KEYS=f"shop:{SHOP_KEY},blog:{BLOG_KEY}")
    shop = post(client, "order-1002", SHOP_KEY)
    blog = post(client, "order-1002", BLOG_KEY)
    assert (shop.status_code, blog.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in blog.headers
    assert blog.json["id"] != shop.json["id"]
    assert len(mailer.transports[0][1].sent) == 2


def test_a_key_claimed_under_one_api_key_does_not_block_another(make_client):
    client, mailer = make_client(API_KEYS=f"shop:{SHOP_KEY},blog:{BLOG_KEY}")
    # The blog pre-claims the shop's next key with another body...
    squatted = client.simulate_post(
        "/send",
        json=dict(SEED_REQUEST, subject="squat"),
        headers={"Idempotency-Key": "order-1003", "Authorization": f"Bearer {BLOG_KEY}"},
    )
    assert squatted.status_code == 200
    # ...and the shop's real message is still sent, not a 422.
    assert post(client, "order-1003", SHOP_KEY).status_code == 200
    assert len(mailer.transports[0][1].sent) == 2


def test_a_form_whose_final_reply_is_lost_says_so_and_a_resubmission_sends_nothing(
    live_server, peer
):
    server = live_server(
        FORM_CONTACT_TO="team@example.org", ALLOWED_HOSTS="www.example.org", **postfix(peer)
    )
    peer.hang_up_after_data = True
    hello = urlencoded([("email", "ada@example.net"), ("message", "Hello")])
    first = submit(server.port, "contact", hello, JSON)
    assert first.status == 504
    assert (first.json["outcome"], first.json["id"]) == ("unknown", delivered_ids(peer)[0])
    assert str(peer.port) not in first.json["details"]  # a public page: no operator details
    peer.hang_up_after_data = False
    again = submit(server.port, "contact", hello, {"Accept": "text/html"})
    assert again.status == 504  # a page that says it may have been sent, not "thank you"
    assert len(peer.messages) == 1
