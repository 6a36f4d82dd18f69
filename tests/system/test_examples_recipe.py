"""The recipe of docs/forms.md ("Try the examples locally"), run as written: examples/ served by
``python -m http.server`` on one loopback port, ``dinky-mail serve`` in development on another,
both example pages sent from headless Chromium, and the message found in the outbox.

Only the ports differ (free ones, not 8081 and 20001): the page reaches the service through
``?api=``, which the pages honour on this machine only."""

import http.client
import json
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from support.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
RECIPE = (ROOT / "docs" / "forms.md").read_text()
SERVE_PAGES = "python3 -m http.server 8081 --bind 127.0.0.1 --directory examples"
SERVE_API = (
    "ENVIRONMENT=development FORM_CONTACT_TO=you@example.com ALLOWED_HOSTS=localhost:8081 "
    "dinky-mail serve"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_recipe_is_the_one_in_the_docs_and_the_pages_point_where_it_serves():
    assert f"```sh\n{SERVE_PAGES}\n```" in RECIPE
    assert f"```sh\n{SERVE_API}\n```" in RECIPE
    assert "http://localhost:8081/contact.html" in RECIPE
    for page in ("contact.html", "contact-fetch.html"):
        assert (
            'action="http://127.0.0.1:20001/forms/contact"'
            in (ROOT / "examples" / page).read_text()
        )
    assert (
        'value="http://localhost:8081/thanks.html"' in (ROOT / "examples/contact.html").read_text()
    )


@pytest.fixture
def pages_port():
    """The recipe's first command, on a free port."""
    port = free_port()
    command = shlex.split(SERVE_PAGES.replace("8081", str(port)))
    server = subprocess.Popen(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "http.server did not start"
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def api(pages_port, tmp_path):
    """The recipe's second command (its variables, ALLOWED_HOSTS on the pages' port)."""
    words = shlex.split(SERVE_API.replace("8081", str(pages_port)))
    env = dict(word.split("=", 1) for word in words if "=" in word)
    assert words[len(env) :] == ["dinky-mail", "serve"]
    with ServiceProcess(env, cwd=tmp_path) as process:
        yield process


def outbox(api) -> list[dict]:
    connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        connection.request("GET", "/outbox/messages", headers={"Accept": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())["messages"]
    finally:
        connection.close()


def fill_in(browser, name):
    browser.find_element(By.NAME, "name").send_keys(name)
    browser.find_element(By.NAME, "email").send_keys("ada@example.net")
    browser.find_element(By.NAME, "message").send_keys("Trying the examples locally")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_the_plain_example_sent_as_the_recipe_says_lands_on_thanks_and_in_the_outbox(
    pages_port, api, browser
):
    site = f"http://localhost:{pages_port}"
    browser.get(f"{site}/contact.html?api=http://127.0.0.1:{api.port}")
    fill_in(browser, "Ada")
    WebDriverWait(browser, 15).until(lambda b: b.current_url == f"{site}/thanks.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Thank you"
    (message,) = outbox(api)
    assert message["to"] == "you@example.com"


def test_the_fetch_example_sent_as_the_recipe_says_shows_thanks_and_is_in_the_outbox(
    pages_port, api, browser
):
    site = f"http://localhost:{pages_port}"
    browser.get(f"{site}/contact-fetch.html?api=http://127.0.0.1:{api.port}")
    fill_in(browser, "Grace")
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 15).until(lambda b: status.text not in ("", "Sending…"))
    assert status.text == "Thank you! Your message was sent."
    (message,) = outbox(api)
    assert message["to"] == "you@example.com"
