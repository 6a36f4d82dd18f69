"""Rate limits per client IP and per API key, with a clock the tests move; Redis shared by replicas."""

import pytest

from dinky_falcon.app import create_app
from dinky_falcon.errors import ConfigError
from dinky_falcon.mailer import Mailer
from support.clients import loopback_client
from support.samples import SEED_REQUEST

BLOG_KEY = "blog-key-0123456789abcdef"
SHOP_KEY = "shop-key-0123456789abcdef"


@pytest.fixture
def make_limited_client(make_settings, clock):
    def make(**variables):
        settings = make_settings(**variables)
        app = create_app(settings, mailer=Mailer.from_settings(settings), clock=clock)
        return loopback_client(app)

    return make


def test_over_the_limit_is_a_429_with_retry_after_and_ratelimit_headers(live_server, clock):
    server = live_server(RATE_LIMIT="3/minute", clock=clock)
    clock.advance(15)
    remaining = []
    for _ in range(3):
        answer = server.send(SEED_REQUEST)
        assert answer.status == 200
        remaining.append(answer.headers["RateLimit-Remaining"])
        assert answer.headers["RateLimit-Limit"] == "3"
        assert answer.headers["RateLimit-Reset"] == "45"
    assert remaining == ["2", "1", "0"]
    refused = server.send(SEED_REQUEST)
    assert refused.status == 429
    assert refused.json == {
        "success": False,
        "error": "Too many requests",
        "details": "Rate limit exceeded; retry after 45 seconds.",
    }
    assert refused.headers["Retry-After"] == "45"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert len(server.sent) == 3


def test_the_next_window_lets_the_client_send_again(make_limited_client, clock):
    client = make_limited_client(RATE_LIMIT="2/minute;3/hour")
    statuses = [client.simulate_post("/send", json=SEED_REQUEST).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    clock.advance(60)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200
    hourly = client.simulate_post("/send", json=SEED_REQUEST)
    assert hourly.status_code == 429
    assert hourly.headers["Retry-After"] == str(3600 - 60)
    clock.advance(3600)
    assert client.simulate_post("/send", json=SEED_REQUEST).status_code == 200


def test_each_client_ip_has_its_own_count(make_limited_client):
    client = make_limited_client(RATE_LIMIT="1/minute")
    assert (
        client.simulate_post("/send", json=SEED_REQUEST, remote_addr="192.0.2.1").status_code == 200
    )
    assert (
        client.simulate_post("/send", json=SEED_REQUEST, remote_addr="192.0.2.1").status_code == 429
    )
    assert (
        client.simulate_post("/send", json=SEED_REQUEST, remote_addr="192.0.2.2").status_code == 200
    )


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(live_server, clock):
    server = live_server(RATE_LIMIT="1/minute", clock=clock)
    assert server.send(SEED_REQUEST, {"X-Forwarded-For": "198.51.100.1"}).status == 200
    spoofed = server.send(SEED_REQUEST, {"X-Forwarded-For": "198.51.100.2"})
    assert spoofed.status == 429


def test_behind_a_trusted_proxy_the_hop_it_appended_is_the_client(live_server, clock):
    server = live_server(RATE_LIMIT="1/minute", TRUSTED_PROXIES="127.0.0.0/8", clock=clock)
    assert server.send(SEED_REQUEST, {"X-Forwarded-For": "203.0.113.7"}).status == 200
    # A client writing its own X-Forwarded-For only adds entries left of the proxy's.
    spoofed = server.send(SEED_REQUEST, {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"})
    assert spoofed.status == 429
    garbage = server.send(SEED_REQUEST, {"X-Forwarded-For": "203.0.113.7, not-an-ip"})
    assert garbage.status == 200  # counted as the proxy itself, not as the client
    assert server.send(SEED_REQUEST, {"X-Forwarded-For": "203.0.113.8"}).status == 200


def test_each_api_key_has_its_own_count(live_server, clock):
    server = live_server(
        API_KEYS=f"blog:{BLOG_KEY},shop:{SHOP_KEY}",
        RATE_LIMIT="none",
        RATE_LIMIT_PER_KEY="2/minute",
        clock=clock,
    )
    blog, shop = {"X-API-Key": BLOG_KEY}, {"X-API-Key": SHOP_KEY}
    assert [server.send(SEED_REQUEST, blog).status for _ in range(3)] == [200, 200, 429]
    assert server.send(SEED_REQUEST, shop).status == 200


def test_guessing_keys_is_rate_limited_per_ip(live_server, clock):
    server = live_server(API_KEYS=f"blog:{BLOG_KEY}", RATE_LIMIT="3/minute", clock=clock)
    guesses = [server.send(SEED_REQUEST, {"X-API-Key": f"guess-{i:020d}"}).status for i in range(4)]
    assert guesses == [401, 401, 401, 429]


def test_a_valid_key_is_counted_per_key_not_by_the_anonymous_per_ip_limit(live_server, clock):
    # A site's back end behind Traefik: 60 messages in a minute with the production defaults.
    server = live_server(
        API_KEYS=f"blog:{BLOG_KEY}", ENVIRONMENT="production", clock=clock, MAIL_TRANSPORT="file"
    )  # production refuses the memory transport
    statuses = [server.send(SEED_REQUEST, {"X-API-Key": BLOG_KEY}).status for _ in range(60)]
    assert statuses == [200] * 60
    guesses = [
        server.send(SEED_REQUEST, {"X-API-Key": f"guess-{i:020d}"}).status for i in range(11)
    ]
    assert guesses == [401] * 10 + [429]  # the same address guessing keys is still limited


def test_health_is_never_rate_limited(live_server, clock):
    server = live_server(RATE_LIMIT="1/minute", clock=clock)
    assert all(server.healthy() for _ in range(5))


def test_production_limits_by_default_and_none_switches_it_off(make_settings):
    assert make_settings(ENVIRONMENT="production").rate_limit == "10/minute;100/hour"
    assert make_settings(ENVIRONMENT="production", RATE_LIMIT="none").rate_limit == "none"
    assert make_settings(ENVIRONMENT="production").rate_limit_per_key == "120/minute;3600/hour"


@pytest.mark.parametrize(
    "variables, fragment",
    [
        ({"RATE_LIMIT": "ten per minute"}, "RATE_LIMIT:"),
        ({"RATE_LIMIT_PER_KEY": "10/fortnight"}, "RATE_LIMIT_PER_KEY:"),
        ({"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES:"),
    ],
)
def test_a_bad_rate_limit_setting_stops_the_start(make_settings, variables, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make_settings(**variables)


def test_an_unknown_storage_scheme_stops_the_start(make_settings):
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORAGE"):
        create_app(make_settings(RATE_LIMIT_STORAGE="carrier-pigeon://loft"))


def test_replicas_share_their_counts_through_redis(live_server, redis_server, clock):
    variables = dict(RATE_LIMIT="2/minute", RATE_LIMIT_STORAGE=redis_server.url, clock=clock)
    first, second = live_server(**variables), live_server(**variables)
    assert first.send(SEED_REQUEST).status == 200
    assert second.send(SEED_REQUEST).status == 200
    refused = first.send(SEED_REQUEST)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "60"
    clock.advance(60)
    assert second.send(SEED_REQUEST).status == 200


def test_an_unreachable_redis_is_a_503_not_a_free_pass(live_server, redis_server, clock):
    server = live_server(RATE_LIMIT="2/minute", RATE_LIMIT_STORAGE=redis_server.url, clock=clock)
    assert server.send(SEED_REQUEST).status == 200
    redis_server.stop()
    answer = server.send(SEED_REQUEST)
    assert answer.status == 503
    assert answer.json["error"] == "Rate limiting unavailable, retry later"
    assert "Retry-After" in answer.headers
    assert len(server.sent) == 1
    assert server.healthy()
