import pytest
from falcon import testing

from dinky_falcon.app import create_app
from dinky_falcon.mailer import Mailer
from dinky_falcon.settings import Settings

SEED_REQUEST = {
    "to": "recipient@example.org",
    "subject": "Test Email",
    "body": "This is a test email",
}


@pytest.fixture
def make_settings(tmp_path):
    """Settings from a clean environment (no os.environ, no .env) plus the given variables."""

    def make(**variables) -> Settings:
        environ = {
            "ENVIRONMENT": "development",
            "MAIL_DOMAIN": "example.org",
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_TRANSPORT": "memory",
        }
        environ.update(variables)
        return Settings.from_env(environ, env_file=None)

    return make


@pytest.fixture
def make_client(make_settings):
    """A falcon TestClient and the Mailer behind it (``mailer.transports[0][1]``)."""

    def make(**variables):
        settings = make_settings(**variables)
        mailer = Mailer.from_settings(settings)
        return testing.TestClient(create_app(settings, mailer=mailer)), mailer

    return make


@pytest.fixture
def client_and_sent(make_client):
    client, mailer = make_client()
    return client, mailer.transports[0][1].sent
