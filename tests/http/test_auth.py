"""API keys: 401 without a valid key on guarded routes, constant-time checks, keys never logged."""

import hmac
import logging

import pytest

from dinky_falcon.errors import ConfigError
from support.samples import SEED_REQUEST

BLOG_KEY = "blog-key-0123456789abcdef"
SHOP_KEY = "shop-key-0123456789abcdef"
KEYS = f"blog:{BLOG_KEY},shop:{SHOP_KEY}"


def test_labels_name_the_keys_and_unlabelled_keys_are_numbered(make_settings):
    settings = make_settings(API_KEYS=f"blog:{BLOG_KEY}, {SHOP_KEY}")
    assert [key.label for key in settings.api_keys] == ["blog", "key2"]
    assert [key.secret for key in settings.api_keys] == [BLOG_KEY, SHOP_KEY]
    assert BLOG_KEY not in repr(settings)


@pytest.mark.parametrize(
    "value, message",
    [
        ("blog:short", "API_KEYS: key 'blog' is shorter than 16 characters"),
        (f"blog:{BLOG_KEY},blog:{SHOP_KEY}", "API_KEYS: the label 'blog' is used twice"),
        (f"blog:{BLOG_KEY},shop:{BLOG_KEY}", "API_KEYS: key 'shop' repeats an earlier key"),
    ],
)
def test_a_bad_api_keys_value_stops_the_start_without_showing_the_key(
    make_settings, value, message
):
    with pytest.raises(ConfigError) as error:
        make_settings(API_KEYS=value)
    assert str(error.value) == message
    assert BLOG_KEY not in str(error.value)


def test_send_without_a_key_is_a_401_with_www_authenticate(live_server):
    server = live_server(API_KEYS=KEYS)
    answer = server.send(SEED_REQUEST)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="dinky-falcon"'
    assert answer.json == {
        "success": False,
        "error": "Unauthorized",
        "details": "Send a valid API key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'.",
    }
    assert server.sent == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-key-0123456789abcdef"},
        {"X-API-Key": BLOG_KEY[:-1]},
        {"Authorization": f"Basic {BLOG_KEY}"},
        {"Authorization": "Bearer "},
    ],
)
def test_a_wrong_key_is_a_401(live_server, headers):
    server = live_server(API_KEYS=KEYS)
    answer = server.send(SEED_REQUEST, headers)
    assert answer.status == 401
    assert answer.json["error"] == "Unauthorized"
    assert "WWW-Authenticate" in answer.headers
    assert server.sent == []


@pytest.mark.parametrize(
    "headers", [{"Authorization": f"Bearer {SHOP_KEY}"}, {"X-API-Key": BLOG_KEY}]
)
def test_a_valid_key_in_either_header_sends(live_server, headers):
    server = live_server(API_KEYS=KEYS)
    answer = server.send(SEED_REQUEST, headers)
    assert answer.status == 200
    assert len(server.sent) == 1


def test_health_and_preflight_need_no_key(live_server):
    server = live_server(API_KEYS=KEYS, ALLOWED_HOSTS="shop.example.org")
    assert server.healthy()
    preflight = server.request(
        "OPTIONS",
        "/send",
        headers={
            "Origin": "https://shop.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example.org"


def test_readiness_logs_in_upstream_so_it_needs_a_key(live_server):
    server = live_server(API_KEYS=KEYS)
    assert server.request("GET", "/health/ready").status == 401
    ready = server.request("GET", "/health/ready", headers={"X-API-Key": BLOG_KEY})
    assert ready.status == 200
    assert ready.json["status"] == "ok"


def test_unknown_paths_stay_404_rather_than_401(live_server):
    server = live_server(API_KEYS=KEYS)
    assert server.request("GET", "/nowhere").status == 404


def test_every_key_is_compared_in_constant_time_even_after_a_match(make_client, monkeypatch):
    client, _ = make_client(API_KEYS=f"{KEYS},cron:cron-key-0123456789abcdef")
    compared = []

    def recording_compare_digest(a, b):
        compared.append(b)
        return real_compare_digest(a, b)

    real_compare_digest = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", recording_compare_digest)
    answer = client.simulate_post("/send", json=SEED_REQUEST, headers={"X-API-Key": BLOG_KEY})
    assert answer.status_code == 200
    assert compared == [BLOG_KEY.encode(), SHOP_KEY.encode(), b"cron-key-0123456789abcdef"]
    compared.clear()
    client.simulate_post("/send", json=SEED_REQUEST, headers={"X-API-Key": "nope"})
    assert len(compared) == 3


def test_keys_are_never_logged_but_labels_are(make_client, caplog):
    client, _ = make_client(API_KEYS=KEYS)
    with caplog.at_level(logging.DEBUG):
        client.simulate_post(
            "/send", json=SEED_REQUEST, headers={"Authorization": f"Bearer {SHOP_KEY}"}
        )
        client.simulate_post("/send", json=SEED_REQUEST, headers={"X-API-Key": BLOG_KEY + "x"})
    assert "key=shop" in caplog.text
    assert "a wrong API key" in caplog.text
    assert SHOP_KEY not in caplog.text
    assert BLOG_KEY not in caplog.text
