"""The example pages in a real browser: headless Chromium (Debian's, driven by Selenium through
/usr/bin/chromedriver) loads them from a loopback web server, fills them in and sends them to
``dinky-mail serve``; the message must land in the outbox."""

import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from support.samples import parse_mail
from support.service_process import ServiceProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class ExampleSite(SimpleHTTPRequestHandler):
    """Serves examples/ with the placeholder addresses pointed at the loopback servers."""

    addresses: dict[str, str] = {}

    def do_GET(self):
        path = EXAMPLES / self.path.lstrip("/").split("?")[0]
        if path.parent != EXAMPLES or not path.is_file():
            self.send_error(404)
            return
        text = path.read_text()
        for placeholder, address in self.addresses.items():
            text = text.replace(placeholder, address)
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    handler = type("Site", (ExampleSite,), {"addresses": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(EXAMPLES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.origin = f"http://127.0.0.1:{server.server_address[1]}"
    handler.addresses["http://localhost:8081"] = handler.origin
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def service(site, tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "DATA_DIR": str(tmp_path / "data"),
        "ALLOWED_HOSTS": site.origin,
        "FORM_CONTACT_TO": "team@example.org",
        "FORM_CONTACT_SUBJECT": "New message from {name}",
        "FORM_CONTACT_MIN_SECONDS": "1",
        "FORMS_SECRET": "browser-test-secret-0123",
    }
    with ServiceProcess(env, cwd=tmp_path) as process:
        site.addresses["http://127.0.0.1:20001"] = f"http://127.0.0.1:{process.port}"
        yield process


def fill_in(browser):
    browser.find_element(By.NAME, "name").send_keys("Ada <Lovelace>")
    browser.find_element(By.NAME, "email").send_keys("ada@example.net")
    browser.find_element(By.NAME, "message").send_keys("Hello from a real browser & friends")


def the_message(tmp_path):
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    return parse_mail(eml.read_bytes())


def test_without_javascript_a_form_with_a_fill_time_lists_the_missing_token(
    site, service, browser, tmp_path
):
    browser.get(f"{site.origin}/contact.html")
    fill_in(browser)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda b: "Validation failed" in b.page_source)
    assert "_token" in browser.find_element(By.TAG_NAME, "li").text
    assert list((tmp_path / "outbox").glob("*.eml")) == []


@pytest.fixture
def plain_service(site, tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "DATA_DIR": str(tmp_path / "data"),
        "ALLOWED_HOSTS": site.origin,
        "FORM_CONTACT_TO": "team@example.org",
        "FORM_CONTACT_SUBJECT": "New message from {name}",
    }
    with ServiceProcess(env, cwd=tmp_path) as process:
        site.addresses["http://127.0.0.1:20001"] = f"http://127.0.0.1:{process.port}"
        yield process


def test_the_plain_form_redirects_to_the_sites_thank_you_page_and_the_mail_is_in_the_outbox(
    site, plain_service, browser, tmp_path
):
    browser.get(f"{site.origin}/contact.html")
    fill_in(browser)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda b: b.current_url == f"{site.origin}/thanks.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Thank you"
    message = the_message(tmp_path)
    assert message["To"] == "team@example.org"
    assert message["Reply-To"] == '"Ada <Lovelace>" <ada@example.net>'  # the name field, quoted
    assert message["Subject"] == "New message from Ada <Lovelace>"
    assert (
        "message: Hello from a real browser & friends" in message.get_body(("plain",)).get_content()
    )
    assert "Ada &lt;Lovelace&gt;" in message.get_body(("html",)).get_content()


def test_the_fetch_form_gets_its_token_waits_and_shows_its_success_text(
    site, service, browser, tmp_path
):
    browser.get(f"{site.origin}/contact-fetch.html")
    token = browser.find_element(By.NAME, "_token")
    WebDriverWait(browser, 15).until(lambda b: token.get_attribute("value"))
    fill_in(browser)
    time.sleep(1.1)  # FORM_CONTACT_MIN_SECONDS=1: a person takes longer than that anyway
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 15).until(lambda b: status.text not in ("", "Sending…"))
    assert status.text == "Thank you! Your message was sent."
    assert browser.current_url == f"{site.origin}/contact-fetch.html"
    message = the_message(tmp_path)
    assert message["Reply-To"] == '"Ada <Lovelace>" <ada@example.net>'  # the name field, quoted
    assert "Hello from a real browser & friends" in message.get_body(("plain",)).get_content()


def the_status_after_sending(browser, site) -> str:
    browser.get(f"{site.origin}/contact-fetch.html")
    fill_in(browser)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 15).until(lambda b: status.text not in ("", "Sending…"))
    return status.text


def test_the_fetch_form_tells_a_refused_origin_from_an_unreachable_service(site, browser, tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "DATA_DIR": str(tmp_path / "data"),
        "ALLOWED_HOSTS": "www.example.org",
        "FORM_CONTACT_TO": "team@example.org",
    }
    with ServiceProcess(env, cwd=tmp_path) as service:
        site.addresses["http://127.0.0.1:20001"] = f"http://127.0.0.1:{service.port}"
        refused = the_status_after_sending(browser, site)
    assert (
        refused
        == "Not sent: this page may not use the mail service. Please contact us another way."
    )
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    # The same address once nothing listens there any more.
    assert the_status_after_sending(browser, site) == (
        "Not sent: the mail service cannot be reached. Please try again later."
    )
