"""CORS from ALLOWED_HOSTS through Falcon's CORSMiddleware."""

import pytest

from support.samples import SEED_REQUEST


@pytest.fixture
def client(make_client):
    return make_client(ALLOWED_HOSTS="shop.example.com, https://app.example.net:8443")[0]


@pytest.mark.parametrize(
    "origin",
    ["http://shop.example.com", "https://shop.example.com", "https://app.example.net:8443"],
)
def test_allowed_origins_get_a_grant(client, origin):
    result = client.simulate_post("/send", json=SEED_REQUEST, headers={"Origin": origin})
    assert result.status_code == 200
    assert result.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://app.example.net:8443",
        "https://shop.example.com.evil.example",
    ],
)
def test_other_origins_get_no_grant(client, origin):
    result = client.simulate_get("/health", headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in result.headers


def test_preflight_for_send_is_answered(client):
    result = client.simulate_options(
        "/send",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert result.status_code == 200
    assert result.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in result.headers["Access-Control-Allow-Methods"]
    assert result.headers["Access-Control-Allow-Headers"].lower() == "content-type"


def test_no_allowed_hosts_means_no_grant_at_all(make_client):
    client, _ = make_client()
    result = client.simulate_get("/health", headers={"Origin": "https://shop.example.com"})
    assert "Access-Control-Allow-Origin" not in result.headers
