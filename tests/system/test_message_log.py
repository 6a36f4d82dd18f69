"""One INFO line per message on ``dinky_falcon.messages``, through a real waitress: the outcome,
the transport, the caller, the upstream's queue ID (also in the 200 body); never an address.
LOG_FORMAT=json writes every line as one JSON object."""

import json
import logging
import re
import urllib.parse

import pytest

from support.postfix_harness import wait_for
from support.service_process import ServiceProcess

MESSAGE = {
    "to": ["owner@example.net", "office@example.net"],
    "subject": "A question",
    "body": "Hello\n",
    "bcc": "audit@example.net",
}
KEY = {"Authorization": "Bearer alice-key-0123456789abcdef"}


def message_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "dinky_falcon.messages"]


@pytest.fixture
def smtp_api(live_server, smtp_server):
    return live_server(
        MAIL_TRANSPORT="postfix",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_server.port),
        SMTP_TIMEOUT="2",
        API_KEYS="alice:alice-key-0123456789abcdef",
    )


def test_a_sent_message_is_one_line_with_its_queue_id_which_the_answer_carries_too(
    smtp_api, smtp_server, caplog
):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    answer = smtp_api.send(MESSAGE, KEY)

    assert answer.status == 200, answer.json
    (received,) = smtp_server.messages
    assert answer.json["queue_id"] == received.queue_id
    (line,) = message_lines(caplog)
    assert line.levelno == logging.INFO
    assert line.fields == {
        "message_id": answer.json["id"],
        "transport": "postfix",
        "outcome": "sent",
        "ms": line.fields["ms"],
        "key": "alice",
        "recipients": 3,
        "queue_id": received.queue_id,
    }
    text = line.getMessage()
    assert answer.json["id"] in text and f"queue_id={received.queue_id}" in text
    assert "outcome=sent" in text and "key=alice" in text and "recipients=3" in text
    assert "@example.net" not in text and "A question" not in text and "Hello" not in text


@pytest.mark.parametrize(
    "fault, outcome, status",
    [
        ({"data_reply": "554 5.7.1 rejected"}, "refused", 502),
        ({"rcpt_reply": "450 4.2.1 try later"}, "failed", 503),
        ({"hang_up_after_data": True}, "unknown", 504),
    ],
)
def test_a_message_that_was_not_sent_logs_its_outcome(
    smtp_api, smtp_server, caplog, fault, outcome, status
):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    for name, value in fault.items():
        setattr(smtp_server, name, value)
    answer = smtp_api.send(MESSAGE, KEY)

    assert answer.status == status, answer.json
    (line,) = message_lines(caplog)
    assert line.fields["outcome"] == outcome and line.fields["transport"] == "postfix"
    assert line.fields["recipients"] == 3 and "queue_id" not in line.fields
    assert line.fields["message_id"].startswith("<")


def test_a_replayed_request_logs_duplicate_with_the_first_ones_ids(smtp_api, smtp_server, caplog):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    headers = {**KEY, "Idempotency-Key": "order-1"}
    first = smtp_api.send(MESSAGE, headers)
    again = smtp_api.send(MESSAGE, headers)

    assert again.json == first.json and len(smtp_server.messages) == 1
    sent, duplicate = message_lines(caplog)
    assert sent.fields["outcome"] == "sent"
    assert duplicate.fields["outcome"] == "duplicate"
    assert duplicate.fields["message_id"] == first.json["id"]
    assert duplicate.fields["queue_id"] == first.json["queue_id"]


def test_a_form_logs_its_name_and_a_filled_honeypot_logs_honeypot(live_server, caplog):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    server = live_server(FORM_CONTACT_TO="team@example.org")
    form = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    fields = {"name": "Ada", "email": "ada@example.net", "message": "Hi"}

    sent = server.request("POST", "/forms/contact", urllib.parse.urlencode(fields).encode(), form)
    bot = server.request(
        "POST", "/forms/contact", urllib.parse.urlencode({**fields, "_gotcha": "x"}).encode(), form
    )

    assert sent.status == bot.status == 200
    first, second = message_lines(caplog)
    assert first.fields == {
        "message_id": sent.json["id"],
        "transport": "memory",
        "outcome": "sent",
        "ms": first.fields["ms"],
        "form": "contact",
        "recipients": 1,
    }
    assert second.fields == {
        "message_id": bot.json["id"],
        "outcome": "honeypot",
        "form": "contact",
        "recipients": 1,
    }
    assert len(server.sent) == 1


def test_log_format_json_writes_every_line_as_one_object_with_the_messages_fields(tmp_path):
    env = {
        "ENVIRONMENT": "development",
        "MAIL_DOMAIN": "example.org",
        "LOG_FORMAT": "json",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "DATA_DIR": str(tmp_path / "data"),
    }
    with ServiceProcess(env, cwd=tmp_path) as service:
        status, _, body = service.request("POST", "/send", MESSAGE)
        assert status == 200
        wait_for(lambda: any('"outcome"' in line for line in service.log), what="the line")
    entries = [json.loads(line) for line in service.log]  # every line, or this raises
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    (entry,) = [e for e in entries if e["logger"] == "dinky_falcon.messages"]
    assert entry["level"] == "INFO" and entry["outcome"] == "sent"
    assert entry["message_id"] == body["id"] and entry["transport"] == "file"
    assert entry["recipients"] == 3 and "@example.net" not in json.dumps(entry)


def test_the_queue_id_in_the_answer_is_the_one_postfix_logs_for_the_message(
    gmail_server, make_postfix, live_server, caplog
):
    relay = make_postfix(gmail_server.port)
    server = live_server(
        MAIL_TRANSPORT="postfix", SMTP_HOST="127.0.0.1", SMTP_PORT=str(relay.port), SMTP_TIMEOUT="5"
    )
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    answer = server.send({"to": "owner@example.net", "subject": "Hi", "body": "Hello\n"})

    assert answer.status == 200, answer.json
    queue_id = answer.json["queue_id"]
    assert re.fullmatch(r"[0-9A-Za-z]{6,}", queue_id)
    # Postfix's cleanup names the queue ID beside the Message-ID it read from the message.
    wait_for(
        lambda: f"{queue_id}: message-id={answer.json['id']}" in relay.log(),
        what=f"postfix to log {queue_id}\n{relay.log()}",
    )
    (line,) = message_lines(caplog)
    assert line.fields["queue_id"] == queue_id


def test_a_message_the_recipient_policy_refuses_logs_refused_without_a_transport(
    live_server, caplog
):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    server = live_server(ALLOWED_RECIPIENTS="@example.org")
    answer = server.send(MESSAGE)

    assert answer.status == 403
    (line,) = message_lines(caplog)
    assert line.fields["outcome"] == "refused" and "transport" not in line.fields
    assert server.sent == []


def test_an_observer_that_fails_never_changes_the_answer(live_server, caplog):
    caplog.set_level(logging.INFO, logger="dinky_falcon.messages")
    server = live_server()

    def broken(event):
        raise RuntimeError("an observer's bug")

    server.mailer.observers.insert(0, broken)
    answer = server.send(MESSAGE)

    assert answer.status == 200 and len(server.sent) == 1
    assert any("observer" in r.getMessage() and r.exc_info for r in caplog.records)
    assert len(message_lines(caplog)) == 1  # the others still heard of it
