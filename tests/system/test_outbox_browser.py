"""The outbox in a real browser: headless Chromium (Debian's, through /usr/bin/chromedriver)
against ``dinky-mail serve``. New mail shows up in the list without a reload; a message's HTML
part runs no script and loads no remote image (one aimed at a loopback server of this test's
own, which records every request) until the reader asks for images. Takes the screenshot of docs/outbox.png."""

import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from support.service_process import ServiceProcess

# The README's picture, written again with UPDATE_SCREENSHOTS=1 (else a run would leave the
# work tree changed); every run takes the screenshot and checks it is a picture.
README_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "outbox.png"


class Tracker(BaseHTTPRequestHandler):
    """Records every path asked for: a message's image or script calling home."""

    requested: list[str]

    def do_GET(self):
        self.requested.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/gif")
        self.end_headers()
        self.wfile.write(b"GIF89a")

    def log_message(self, *args):
        pass


@pytest.fixture
def tracker():
    handler = type("Handler", (Tracker,), {"requested": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.origin = f"http://127.0.0.1:{server.server_address[1]}"
    yield handler
    server.shutdown()
    server.server_close()


@pytest.fixture
def service(tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "DATA_DIR": str(tmp_path / "data"),
    }
    with ServiceProcess(env, cwd=tmp_path) as process:
        yield process


def send(service, subject, **fields):
    message = {
        "to": "owner@example.net",
        "from": "Shop <shop@example.org>",
        "subject": subject,
        "text": "Thanks for your order.\n",
        **fields,
    }
    status, _, body = service.request("POST", "/send", message)
    assert status == 200, body
    return body


def test_the_list_shows_new_mail_without_a_reload_and_links_to_each_message(service, browser):
    outbox = f"http://127.0.0.1:{service.port}/outbox"
    assert any(outbox in line for line in service.log)  # where to look, said at start
    send(service, "Your order 1001", bcc="audit@example.net")
    browser.get(outbox)
    assert "Your order 1001" in browser.find_element(By.ID, "messages").text
    browser.execute_script("window.notReloaded = true")

    send(service, "A newer message")
    WebDriverWait(browser, 10).until(
        lambda b: "A newer message" in b.find_element(By.ID, "messages").text
    )
    assert browser.execute_script("return window.notReloaded") is True
    first_row = browser.find_elements(By.CSS_SELECTOR, "#messages tr")[0]
    assert first_row.text.startswith("A newer message")  # newest first
    assert browser.find_element(By.ID, "count").text == "2"
    screenshot = browser.get_screenshot_as_png()
    assert screenshot.startswith(b"\x89PNG")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOT.write_bytes(screenshot)

    browser.find_element(By.LINK_TEXT, "Your order 1001").click()
    WebDriverWait(browser, 10).until(
        lambda b: b.find_element(By.TAG_NAME, "h1").text == "Your order 1001"
    )
    assert browser.find_element(By.ID, "recipients").text == "owner@example.net, audit@example.net"
    assert "Thanks for your order." in browser.find_element(By.TAG_NAME, "pre").text


def test_a_messages_script_does_not_run_and_its_remote_image_does_not_load(
    service, browser, tracker
):
    html = (
        f'<meta http-equiv="refresh" content="1;url={tracker.origin}/refresh">'
        f'<link rel="stylesheet" href="{tracker.origin}/style.css">'
        f'<p id="greeting" style="background:url({tracker.origin}/background.gif)">Hello</p>'
        f'<img src="{tracker.origin}/pixel.gif">'
        "<script>document.getElementById('greeting').textContent = 'script ran';"
        f"fetch('{tracker.origin}/script-ran'); parent.document.title = 'taken over';</script>"
    )
    send(service, "With a tracker", html=html)
    browser.get(f"http://127.0.0.1:{service.port}/outbox")
    browser.find_element(By.LINK_TEXT, "With a tracker").click()
    frame = WebDriverWait(browser, 10).until(lambda b: b.find_element(By.TAG_NAME, "iframe"))
    page_title = browser.title
    browser.switch_to.frame(frame)
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "greeting"))
    time.sleep(1.5)  # time for a script or an image to call home

    assert browser.find_element(By.ID, "greeting").text == "Hello"
    browser.switch_to.default_content()
    assert browser.title == page_title == "With a tracker"
    assert tracker.requested == []

    # Asked for, the images load: the tracker does see what a browser requests.
    browser.find_element(By.LINK_TEXT, "show remote images").click()
    WebDriverWait(browser, 10).until(lambda b: "/pixel.gif" in tracker.requested)
    time.sleep(0.5)
    assert "/script-ran" not in tracker.requested  # scripts still never run


def test_the_message_id_in_a_link_is_the_one_the_api_lists(service, browser):
    body = send(service, "Linked")
    browser.get(f"http://127.0.0.1:{service.port}/outbox")
    href = browser.find_element(By.LINK_TEXT, "Linked").get_attribute("href")
    id_ = urllib.parse.unquote(href.rsplit("/", 1)[1])
    status, _, listed = service.request("GET", "/outbox/messages")
    assert listed["messages"][0]["id"] == id_
    assert listed["messages"][0]["message_id"] == body["id"]
