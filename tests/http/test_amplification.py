"""A request within MAX_BODY_SIZE costs bounded work: counts are checked before any item is
parsed, the text alternative is linear, and /health answers while hostile requests run."""

import base64
import json
import os
import threading
import time
import timeit
import tracemalloc

import pytest

from dinky_falcon.mail.addresses import parse_mailbox
from dinky_falcon.mail.html_text import html_to_text
from dinky_falcon.web.fields import Base64Bytes
from dinky_falcon.web.schemas import MAX_REPLY_TO

MAX_RECIPIENTS = 50  # the default
# Each takes the email package's address parser about 5 ms to refuse (15 ms at 512 characters).
SLOW_ADDRESS = "(" * 207
SLOW_ADDRESSES = [SLOW_ADDRESS] * 4800  # just under MAX_BODY_SIZE (1 MiB) as JSON
EMPTY_ATTACHMENT = {"filename": "a", "content": ""}


def message(**fields) -> dict:
    """A valid request with ``fields`` changed; a field given as None is left out."""
    request = {"to": "a@example.org", "subject": "s", "body": "b", **fields}
    return {name: value for name, value in request.items() if value is not None}


# (what, the request, expected status); every body is within the default MAX_BODY_SIZE.
HOSTILE = [
    ("html of '</' * 250 000", message(body=None, html="</" * 250_000), 200),
    ("80 000 nested links", message(body=None, html="<a href=x>y" * 80_000), 200),
    ("4800 slow addresses in to", message(to=SLOW_ADDRESSES), 422),
    (
        "1200 slow addresses in each of to, cc, bcc and reply_to",
        message(**{name: SLOW_ADDRESSES[:1200] for name in ("to", "cc", "bcc", "reply_to")}),
        422,
    ),
    ("4800 slow addresses in reply_to", message(reply_to=SLOW_ADDRESSES), 422),
    (
        "10 000 reply_to addresses",
        message(reply_to=[f"r{i}@example.org" for i in range(10_000)]),
        422,
    ),
    ("30 000 empty attachments", message(attachments=[EMPTY_ATTACHMENT] * 30_000), 422),
    ("40 000 headers", message(headers={f"X-H{i}": "v" for i in range(40_000)}), 422),
    ("100 000 tags", message(tags=["t"] * 100_000), 422),
]


@pytest.fixture(scope="module")
def server(live_server_module):
    return live_server_module


@pytest.mark.parametrize("what, request_, status", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_hostile_body_costs_bounded_work(server, what, request_, status):
    body = json.dumps(request_).encode()
    assert len(body) <= 1024 * 1024
    parsed_before = sum(parse_mailbox.cache_info()[:2])  # hits + misses: every call
    started = time.perf_counter()
    answer = server.request(
        "POST",
        "/send",
        body,
        {"Content-Type": "application/json", "X-API-Key": "site-key-0123456789abcdef"},
    )
    elapsed = time.perf_counter() - started
    assert answer.status == status, answer.body[:300]
    # At most the addresses that the limits let through are parsed, the rest never.
    assert sum(parse_mailbox.cache_info()[:2]) - parsed_before <= MAX_RECIPIENTS + MAX_REPLY_TO + 1
    # Before the limits these took 30 s to minutes; a loaded CI machine may take a few seconds.
    assert elapsed < 10, f"{what}: {elapsed:.1f} s"


def test_too_many_reply_to_addresses_is_a_422_naming_the_field(client_and_sent):
    client, sent = client_and_sent
    addresses = [f"r{i}@example.org" for i in range(MAX_REPLY_TO + 1)]
    result = client.simulate_post("/send", json=message(reply_to=addresses))
    assert result.status_code == 422
    assert result.json["details"] == {"reply_to": ["11 addresses; at most 10 are allowed."]}
    assert client.simulate_post("/send", json=message(reply_to=addresses[:-1])).status_code == 200
    assert "r9@example.org" in str(sent[-1][0]["Reply-To"])


def test_max_attachments_bounds_the_number_of_parts(make_client):
    client, mailer = make_client(MAX_ATTACHMENTS="3")
    result = client.simulate_post("/send", json=message(attachments=[EMPTY_ATTACHMENT] * 4))
    assert result.status_code == 422
    assert result.json["details"] == {"attachments": ["4 attachments; at most 3 are allowed."]}
    result = client.simulate_post("/send", json=message(attachments=[EMPTY_ATTACHMENT] * 3))
    assert result.status_code == 200
    assert len(list(mailer.transports[0][1].sent[-1][0].iter_attachments())) == 3


@pytest.mark.parametrize(
    "html, text",
    [
        ("a </", "a </\n"),
        ("a <", "a <\n"),
        ("1 < 2 <<>> 3", "1 < 2 <<>> 3\n"),
        ("<p>seen</p><!-- never closed <p>hidden</p>", "seen\n"),
        ("<p>seen</p><a href='x", "seen\n"),
        (
            "<a href='https://a.example'>one<a href='https://b.example'>two</a>",
            "one (https://a.example)two (https://b.example)\n",
        ),
    ],
)
def test_cut_off_and_nested_constructs_read_as_a_browser_shows_them(html, text):
    assert html_to_text(html) == text


def _least_times(small: str, large: str, runs: int) -> tuple[float, float]:
    """The least time of each over ``runs`` turns, the two taken in turn: a burst of load
    from elsewhere lands on both, not on one of them only."""
    times = {small: [], large: []}
    for _ in range(runs):
        for html in (small, large):
            times[html] += timeit.repeat(lambda html=html: html_to_text(html), number=1, repeat=1)
    return min(times[small]), min(times[large])


@pytest.mark.parametrize("unit", ["</", "<!--a>", "<?", "<a ", '<a b="x>', "<", "<a href=x>y"])
def test_the_text_alternative_takes_linear_time(unit):
    """Four times the HTML, about four times the time (each of these was quadratic: 16 times,
    from 30 s to hours at 512 KiB); a ratio of times taken in turn, whatever the machine's
    load. Both sizes are past the processor's cache (at 64 KiB "<a " ran twice as fast per
    byte as at 256 KiB and beyond: a ratio of 33 for 16 times the HTML, linear all the same).
    The bound, 10, leaves a load that slows one side 2.5-fold short of quadratic."""
    small = unit * (256 * 1024 // len(unit))
    small_seconds, large_seconds = _least_times(small, small * 4, 4)
    ratio = large_seconds / small_seconds
    assert ratio < 10, f"{ratio:.1f} times the time for 4 times the HTML"


def test_health_answers_while_hostile_requests_run(live_server):
    server = live_server(threads=4)
    hostile = json.dumps(message(to=SLOW_ADDRESSES)).encode()
    statuses = []

    def post() -> None:
        answer = server.request("POST", "/send", hostile, {"Content-Type": "application/json"})
        statuses.append(answer.status)

    senders = [threading.Thread(target=post) for _ in range(8)]
    for sender in senders:
        sender.start()
    slowest = 0.0
    while any(sender.is_alive() for sender in senders):
        started = time.perf_counter()
        assert server.healthy()
        slowest = max(slowest, time.perf_counter() - started)
    for sender in senders:
        sender.join()
    assert statuses == [422] * 8
    assert slowest < 5, f"/health took {slowest:.1f} s"  # before the limits: 20 s


def peak_allocation(work) -> int:
    """The most bytes Python held at once while ``work()`` ran, above what it held before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("wrapped", [False, True], ids=["one line", "76-character lines"])
def test_a_base64_attachment_is_decoded_without_extra_copies(wrapped):
    data = os.urandom(4 << 20)
    text = (base64.encodebytes if wrapped else base64.b64encode)(data).decode()
    field = Base64Bytes()
    decoded = []
    peak = peak_allocation(lambda: decoded.append(field.deserialize(text)))
    assert decoded == [data]
    # The decoded bytes, and for wrapped text one copy of it without its line breaks.
    assert peak <= len(data) * 1.02 + (len(text) * 1.02 if wrapped else 0)


def test_a_request_holds_a_small_multiple_of_its_body(make_client, tmp_path):
    client, mailer = make_client(
        MAIL_TRANSPORT="file", MAX_BODY_SIZE=str(16 << 20), MAX_ATTACHMENT_BYTES=str(12 << 20)
    )
    body = json.dumps(
        message(
            attachments=[
                {"filename": "a.bin", "content": base64.b64encode(os.urandom(5 << 20)).decode()}
            ]
        )
    ).encode()
    # Read from a file, as waitress hands over a body past 512 KiB: the bytes read are the
    # request's own, not the test's.
    (tmp_path / "body").write_bytes(body)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    results = []
    with open(tmp_path / "body", "rb") as stream:
        peak = peak_allocation(
            lambda: results.append(
                client.simulate_post("/send", headers=headers, extras={"wsgi.input": stream})
            )
        )
    assert results[0].status_code == 200
    # Issue #19's target is 3 times. Measured: 6.0 times before the JSON document was
    # released early and base64 was decoded in place, 4.95 after (the test's own bytes read
    # then); 3.0 with the bytes read being the request's own. 2.0 since the message is
    # written in one buffer with its attachments' base64 lines made from their bytes
    # (mail/wire.py) and the bytes read are let go once decoded: the body's text and its
    # JSON document, at once while it is parsed.
    assert peak <= 2.5 * len(body), f"{peak / len(body):.2f} times the body"
