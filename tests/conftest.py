import pytest
import trustme
from falcon import testing

from dinky_falcon.app import create_app
from dinky_falcon.mailer import Mailer
from dinky_falcon.settings import Settings
from smtp_peer import SmtpPeer

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
            "DATA_DIR": str(tmp_path / "data"),
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


@pytest.fixture(scope="session")
def tls_ca():
    """A private certificate authority; its root is what a client must trust."""
    return trustme.CA()


@pytest.fixture
def trusted_ca(tls_ca, tmp_path, monkeypatch):
    """Make the system trust store (SSL_CERT_FILE) the test CA, as an operator would."""
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    return path


@pytest.fixture
def smtp_server():
    """A plain SMTP server on loopback, standing in for the local Postfix."""
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def gmail_server(tls_ca):
    """STARTTLS (trustme certificate) and AUTH PLAIN/LOGIN: a stand-in for smtp.gmail.com."""
    with SmtpPeer(ca=tls_ca, username="site@example.org", password="abcdefghijklmnop") as peer:
        yield peer
