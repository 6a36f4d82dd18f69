"""The special-use names developers test with (RFC 2606/6761: .test, .example, .invalid,
.localhost, localhost, .local) work in development while every transport is a sink (file,
memory); production, or development through a real relay, keeps refusing them."""

import pytest

from dinky_falcon.config.settings import Settings
from dinky_falcon.errors import ConfigError
from dinky_falcon.mail.addresses import AddressError, parse_mailbox
from support.samples import SEED_REQUEST

KEY = "k" * 32
TEST_ADDRESSES = ["me@localhost", "dev@shop.test", "dev@printer.local", "x@y.invalid"]


@pytest.mark.parametrize("address", TEST_ADDRESSES)
def test_test_addresses_are_sent_in_development_with_a_sink(make_client, address):
    client, mailer = make_client(MAIL_DOMAIN="shop.test")
    result = client.simulate_post(
        "/send", json=dict(SEED_REQUEST, to=address, **{"from": "Shop <web@shop.test>"})
    )
    assert result.status_code == 200, result.json
    ((message, envelope),) = mailer.transports[0][1].sent
    assert envelope.recipients == (address,)
    assert envelope.sender == "web@shop.test"


@pytest.mark.parametrize("address", TEST_ADDRESSES)
def test_production_refuses_test_addresses(make_client, tmp_path, address):
    client, _ = make_client(ENVIRONMENT="production", MAIL_TRANSPORT="file", API_KEYS=KEY)
    result = client.simulate_post(
        "/send", json=dict(SEED_REQUEST, to=address), headers={"X-API-Key": KEY}
    )
    assert result.status_code == 422
    assert "special-use" in str(result.json["details"]["to"])
    assert not list((tmp_path / "outbox").glob("*.eml"))


def test_a_development_service_with_a_real_relay_refuses_test_addresses(make_settings):
    # Through gmail (or postfix) mail leaves the machine even in development.
    settings = make_settings(MAIL_TRANSPORT="gmail")
    assert not settings.accepts_test_domains
    assert make_settings(MAIL_TRANSPORT="file,memory").accepts_test_domains
    with pytest.raises(ConfigError) as error:
        make_settings(MAIL_TRANSPORT="gmail", MAIL_DOMAIN="myapp.local")
    assert str(error.value).startswith("MAIL_DOMAIN='myapp.local' is a special-use name")
    assert "MAIL_TRANSPORT=file" in str(error.value)


def test_a_local_mail_domain_starts_in_development_with_a_warning():
    settings = Settings.from_env(
        {"ENVIRONMENT": "development", "MAIL_DOMAIN": "myapp.local"}, env_file=None
    )
    assert settings.default_from == "noreply@myapp.local"
    assert settings.dkim_domain == "myapp.local"
    assert any(w.startswith("MAIL_DOMAIN='myapp.local': .local") for w in settings.warnings)


@pytest.mark.parametrize(
    "variables, names",
    [
        ({"MAIL_DOMAIN": "myapp.local"}, "MAIL_DOMAIN="),
        ({"MAIL_DOMAIN": "shop.com", "DEFAULT_FROM": "me@localhost"}, "DEFAULT_FROM="),
    ],
)
def test_production_names_the_variable_the_user_set(variables, names):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"ENVIRONMENT": "production", **variables}, env_file=None)
    assert str(error.value).startswith(names)
    assert "DEFAULT_FROM" not in str(error.value) or names == "DEFAULT_FROM="


def test_a_form_sends_to_and_replies_to_test_addresses_in_development(make_client):
    client, mailer = make_client(FORM_CONTACT_TO="me@localhost")
    result = client.simulate_post(
        "/forms/contact",
        json={"email": "visitor@shop.test", "message": "hello"},
        headers={"Accept": "application/json"},
    )
    assert result.status_code == 200, result.json
    ((message, envelope),) = mailer.transports[0][1].sent
    assert envelope.recipients == ("me@localhost",)
    assert message["Reply-To"] == "visitor@shop.test"


def test_the_allowance_is_part_of_the_parsers_memo():
    assert parse_mailbox("dev@shop.test", True).domain == "shop.test"
    with pytest.raises(AddressError):
        parse_mailbox("dev@shop.test")  # the lenient answer is not served to a strict caller
    assert parse_mailbox("a@x.onion".replace("x.onion", "b.test"), True).domain == "b.test"
    with pytest.raises(AddressError):
        parse_mailbox("a@x.onion", True)  # only the test names, not every special-use one
