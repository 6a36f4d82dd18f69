"""What guards the public forms: no API key but the Origin check, rate limits per form and
client IP, the signed fill-time token and a captcha plugin (real waitress, a clock we move)."""

import threading
import time

from dinky_falcon import MessageRefused, TransportError, hookimpl
from support.form_client import JSON, multipart, request, submit, urlencoded
from support.samples import parse_mail

FORMS = {
    "MAIL_DOMAIN": "example.org",
    "ALLOWED_HOSTS": "www.example.org",
    "FORM_CONTACT_TO": "team@example.org",
    "FORM_SUPPORT_TO": "support@example.org",
}
HELLO = urlencoded([("email", "ada@example.net"), ("message", "Hello")])
KEY = "site-key-0123456789abcdef"


def test_forms_need_no_api_key_while_send_still_does(live_server):
    server = live_server(API_KEYS=f"site:{KEY}", **FORMS)
    assert submit(server.port, "contact", HELLO, JSON).status == 200
    assert server.send({"to": "a@example.org", "subject": "s", "body": "b"}).status == 401
    ((message, envelope),) = server.sent
    assert envelope.recipients == ("team@example.org",)


def test_a_browser_on_a_site_outside_allowed_hosts_is_refused_with_a_page(live_server):
    server = live_server(**FORMS)
    answer = submit(server.port, "contact", HELLO, {"Origin": "https://evil.test"})
    assert answer.status == 403
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "Origin not allowed" in answer.body.decode()
    allowed = submit(server.port, "contact", HELLO, {"Origin": "https://www.example.org"})
    assert allowed.status == 303
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://www.example.org"
    assert len(server.sent) == 1


def test_rate_limits_count_per_form_and_client(live_server, clock):
    server = live_server(RATE_LIMIT="2/minute", clock=clock, **FORMS)
    for number in range(2):
        assert submit(server.port, "contact", urlencoded([("n", str(number))]), JSON).status == 200
    refused = submit(server.port, "contact", urlencoded([("n", "3")]), JSON)
    assert refused.status == 429
    assert refused.json["error"] == "Too many requests"
    assert int(refused.headers["Retry-After"]) > 0
    assert submit(server.port, "contact", urlencoded([("n", "4")])).status == 429
    assert submit(server.port, "support", urlencoded([("n", "5")]), JSON).status == 200
    clock.advance(60)
    assert submit(server.port, "contact", urlencoded([("n", "6")]), JSON).status == 200
    assert len(server.sent) == 4


def test_a_minimum_fill_time_needs_a_signed_token_old_enough(live_server, clock):
    server = live_server(
        clock=clock, FORMS_SECRET="a-secret-for-forms-0123", FORM_CONTACT_MIN_SECONDS="5", **FORMS
    )
    answer = request(server.port, "GET", "/forms/contact/token", headers=JSON)
    assert answer.headers["Cache-Control"] == "no-store"
    token = answer.json["token"]
    assert answer.json["field"] == "_token" and answer.json["min_seconds"] == 5

    def send(value):
        return submit(
            server.port, "contact", urlencoded([("message", "hi"), ("_token", value)]), JSON
        )

    assert send(token).json["details"] == {
        "_token": ["The form was sent too quickly: wait a few seconds and send it again."]
    }
    clock.advance(5)
    issued, nonce, signature = token.split(".")
    forged = f"{int(issued) - 60}.{nonce}.{signature}"
    for bad in ("", forged, f"{issued}.{signature}", "1.2.3", "².", f"{issued}.{nonce}.²"):
        assert send(bad).status == 422
    assert request(server.port, "GET", "/forms/support/token").status == 404
    assert server.sent == []
    assert send(token).status == 200
    clock.advance(24 * 3600)
    assert "too long ago" in send(token).json["details"]["_token"][0]
    assert len(server.sent) == 1


class Captcha:
    """A stand-in for a Turnstile plugin: the widget's token must be "human"."""

    @hookimpl
    def check_form_submission(self, form, fields, client_ip, settings):
        tokens = [value for name, value in fields if name == "cf-turnstile-response"]
        fields[:] = [(name, value) for name, value in fields if name != "cf-turnstile-response"]
        if tokens != ["human"]:
            raise MessageRefused(f"the captcha for {form} from {client_ip} was not solved")


def test_a_plugin_can_refuse_a_submission_and_keep_its_token_out_of_the_mail(live_server):
    server = live_server(FORM_CONTACT_FIELDS="email,message", **FORMS)
    server.mailer.pm.register(Captcha())
    robot_form = urlencoded([("message", "hi"), ("cf-turnstile-response", "bot")])
    robot = submit(server.port, "contact", robot_form, JSON)
    assert (robot.status, robot.json["error"]) == (403, "Message refused")
    assert robot.json["details"] == "the captcha for contact from 127.0.0.1 was not solved"
    person = urlencoded([("message", "hi"), ("cf-turnstile-response", "human")])
    assert submit(server.port, "contact", person, JSON).status == 200
    ((message, _),) = server.sent
    text = parse_mail(message.as_bytes()).get_body(("plain",)).get_content()
    assert "message: hi" in text and "cf-turnstile-response" not in text


def test_a_form_with_a_field_list_refuses_other_fields_and_files_it_does_not_take(live_server):
    server = live_server(FORM_CONTACT_FIELDS="email,message", **FORMS)
    answer = submit(server.port, "contact", urlencoded([("message", "hi"), ("website", "x")]), JSON)
    assert answer.json["details"] == {"website": ["Unknown field."]}
    upload = multipart([("message", "hi")], [("cv", "cv.txt", "text/plain", b"cv")])
    assert submit(server.port, "contact", upload, JSON).json["details"] == {
        "cv": ["This form does not take files."]
    }
    assert server.sent == []


def test_who_gets_json_and_who_gets_a_redirect(live_server):
    server = live_server(**FORMS)

    def kind(body, headers):
        answer = submit(server.port, "contact", body, headers)
        return "json" if answer.status == 200 else answer.status

    as_json = (b'{"message": "json"}', "application/json")
    assert kind(urlencoded([("m", "1")]), {"Accept": "application/json, text/plain, */*"}) == "json"
    assert kind(urlencoded([("m", "2")]), {"Accept": "*/*"}) == 303  # curl
    assert kind(as_json, {"Accept": "*/*"}) == "json"
    assert kind(urlencoded([("m", "3")]), {"Accept": "text/html, application/json"}) == 303


class GatedTransport:
    """Holds its first send until released, then fails it as a busy relay would."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.first = True
        self.sent = []

    def send(self, message, envelope):
        if self.first:
            self.first = False
            self.entered.set()
            self.release.wait(10)
            raise TransportError("the relay is busy", temporary=True)
        self.sent.append(message)


TIMED = {"FORMS_SECRET": "a-secret-for-forms-0123", "FORM_CONTACT_MIN_SECONDS": "5", **FORMS}


def fresh_token(server, clock) -> str:
    token = request(server.port, "GET", "/forms/contact/token", headers=JSON).json["token"]
    clock.advance(5)
    return token


def test_a_fill_time_token_passes_one_submission_and_a_reuse_looks_too_fast(live_server, clock):
    server = live_server(clock=clock, **TIMED)

    def send(number, token):
        fields = [("email", "bot@example.net"), ("message", f"spam {number}"), ("_token", token)]
        return submit(server.port, "contact", urlencoded(fields), JSON)

    too_fast = send(
        0, request(server.port, "GET", "/forms/contact/token", headers=JSON).json["token"]
    )
    token = fresh_token(server, clock)
    assert send(1, token).status == 200
    for number in range(2, 21):
        reused = send(number, token)
        assert (reused.status, reused.json) == (too_fast.status, too_fast.json)
    # The same submission again (a double click, a reload) is answered as the first was.
    again = send(1, token)
    assert again.status == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert send(2, fresh_token(server, clock)).status == 200
    assert len(server.sent) == 2


def test_replicas_sharing_redis_take_a_token_once(live_server, clock, redis_server):
    first, second = (
        live_server(clock=clock, IDEMPOTENCY_STORE=redis_server.url, **TIMED) for _ in range(2)
    )
    token = fresh_token(first, clock)
    fields = [("message", "hello"), ("_token", token)]
    assert submit(first.port, "contact", urlencoded(fields), JSON).status == 200
    fields = [("message", "hello again"), ("_token", token)]
    assert submit(second.port, "contact", urlencoded(fields), JSON).status == 422
    assert len(first.sent) + len(second.sent) == 1


def submit_in_thread(port, answers):
    thread = threading.Thread(target=lambda: answers.append(submit(port, "contact", HELLO, JSON)))
    thread.start()
    return thread


def test_a_double_click_while_the_first_send_fails_is_sent_not_answered_blindly(live_server):
    server = live_server(**FORMS)
    gate = GatedTransport()
    server.mailer.transports = [("gated", gate)]
    first, second = [], []
    first_thread = submit_in_thread(server.port, first)
    assert gate.entered.wait(10)
    second_thread = submit_in_thread(server.port, second)
    time.sleep(0.3)  # the second now waits for the first's outcome
    assert second == []
    gate.release.set()
    first_thread.join(10)
    second_thread.join(10)
    assert first[0].status == 503
    assert second[0].status == 200
    assert second[0].json["id"] == gate.sent[0]["Message-ID"]
    assert len(gate.sent) == 1


def test_a_double_click_gets_a_409_when_the_first_send_outlasts_the_wait(live_server):
    server = live_server(SMTP_TIMEOUT="0.2", **FORMS)
    gate = GatedTransport()
    server.mailer.transports = [("gated", gate)]
    first = []
    first_thread = submit_in_thread(server.port, first)
    assert gate.entered.wait(10)
    waiting = submit(server.port, "contact", HELLO, JSON)
    assert waiting.status == 409
    assert waiting.json["error"] == "Submission in progress"
    gate.release.set()
    first_thread.join(10)
    assert gate.sent == []
