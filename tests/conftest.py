import pytest
import trustme

from dinky_falcon.app import create_app
from dinky_falcon.config.settings import Settings
from dinky_falcon.mailer import Mailer
from support.browser import headless_chromium
from support.clients import loopback_client
from support.live_server import LiveServer
from support.redis_peer import RedisPeer
from support.smtp_peer import SmtpPeer

# The Postfix harness's fixtures (make_postfix, ca_file), for every test module.
pytest_plugins = ["support.postfix_harness"]


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
    mailers = []

    def make(**variables):
        settings = make_settings(**variables)
        mailer = Mailer.from_settings(settings)
        mailers.append(mailer)
        return loopback_client(create_app(settings, mailer=mailer)), mailer

    yield make
    for mailer in mailers:
        mailer.close()  # SMTP transports hold connections open


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


@pytest.fixture
def live_server(make_settings):
    """Start the app under a real waitress: ``live_server(VARIABLE=value, ...)``; stopped after."""
    started = []

    def start(threads: int = 4, clock=None, **variables) -> LiveServer:
        options = {"clock": clock} if clock is not None else {}
        server = LiveServer(make_settings(**variables), threads=threads, **options).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def redis_server():
    """A real redis-server on a free loopback port, stopped after the test."""
    with RedisPeer() as peer:
        yield peer


class FakeClock:
    """A clock the test moves: ``clock()`` is the time, ``clock.advance(seconds)`` moves it."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(scope="module")
def live_server_module(tmp_path_factory):
    """One real waitress for a module's tests: API key "site-key-0123456789abcdef" required."""
    settings = Settings.from_env(
        {
            "ENVIRONMENT": "development",
            "MAIL_DOMAIN": "example.org",
            "MAIL_TRANSPORT": "memory",
            "OUTBOX_DIR": str(tmp_path_factory.mktemp("outbox")),
            "API_KEYS": "site:site-key-0123456789abcdef",
            "ALLOWED_HOSTS": "example.org",
        },
        env_file=None,
    )
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def browser(tmp_path):
    """Headless Chromium with a profile of its own, quit after the test."""
    driver = headless_chromium(tmp_path / "chromium")
    yield driver
    driver.quit()
