"""Hostile input through a real waitress: every request is a 4xx and the service stays healthy."""

import json
import select
import socket

import pytest

from support.samples import SEED_REQUEST

KEY = "site-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}


def seed_with(**fields) -> bytes:
    return json.dumps(dict(SEED_REQUEST, **fields)).encode()


def raw_seed(subject: bytes = b'"s"', html: bytes = b"false") -> bytes:
    """The seed request with the subject's and html's JSON text written by hand."""
    return b'{"to": "a@example.org", "subject": %s, "body": "b", "html": %s}' % (subject, html)


TEN_MB = 10 * 1024 * 1024

# (what, body bytes, extra headers, expected status)
CORPUS = [
    ("JSON nested 100 000 deep", b"[" * 100_000 + b"]" * 100_000, {}, 400),
    ("nesting inside a field", seed_with(to=json.loads("[" * 500 + "]" * 500)), {}, 422),
    ("invalid UTF-8 in a string", raw_seed(subject=b'"\xc3\x28"'), {}, 400),
    ("invalid UTF-8 everywhere", b"\xff\xfe\xfa\xc0\x80", {}, 400),
    ("a raw NUL byte", raw_seed(subject=b'"a\x00b"'), {}, 400),
    ("an escaped NUL in the body", seed_with(body="a\x00b"), {}, 422),
    ("an escaped NUL in an address", seed_with(to="a\x00@example.org"), {}, 422),
    ("an unpaired surrogate", raw_seed(subject=b'"\\ud800"'), {}, 400),
    ("an unpaired surrogate nested 900 deep", b"[" * 900 + b'"\\ud800"' + b"]" * 900, {}, 400),
    ("a duplicate key", raw_seed().replace(b"false}", b'false, "to": "b@example.org"}'), {}, 400),
    ("to as an object", seed_with(to={"a": "b"}), {}, 422),
    ("subject as a number", seed_with(subject=5), {}, 422),
    ("body as a list", seed_with(body=["x"]), {}, 422),
    ("html as null", seed_with(html=None), {}, 422),
    ("an infinite number", raw_seed(html=b"1e999999"), {}, 422),
    ("a 5000-digit integer", raw_seed(html=b"9" * 5000), {}, 400),
    ("a document that is a list", b"[]", {}, 422),
    ("a NEL (U+0085) in the subject", seed_with(subject="Hi\x85Bcc: x@example.org"), {}, 422),
    ("a display name of 100 000 spaces", seed_with(to=" " * 100_000 + "<a@example.org>"), {}, 422),
    ("a thousand recipients", seed_with(to=[f"r{i}@example.org" for i in range(1000)]), {}, 422),
    # Header values go out as UTF-8 bytes; the server decodes them as ISO-8859-1.
    ("U+2028 in the API key", seed_with(), {"X-API-Key": f"{KEY}\u2028".encode()}, 401),
    (
        "U+2029 in the bearer token",
        seed_with(),
        {"Authorization": f"Bearer {KEY}\u2029".encode()},
        401,
    ),
    ("U+2028 in the Origin", seed_with(), {"Origin": "https://example.org\u2028".encode()}, 403),
    (
        "U+2028 in the content type",
        seed_with(),
        {"Content-Type": "application/json\u2028".encode()},
        415,
    ),
]


@pytest.fixture(scope="module")
def server(live_server_module):
    return live_server_module


@pytest.mark.parametrize("what, body, headers, status", CORPUS, ids=[case[0] for case in CORPUS])
def test_hostile_input_is_a_4xx_and_the_service_stays_healthy(server, what, body, headers, status):
    headers = {"Content-Type": "application/json", **AUTH, **headers}
    answer = server.request("POST", "/send", body, headers)
    assert answer.status == status, answer.body[:300]
    if status != 413:  # waitress itself refuses what is far over MAX_BODY_SIZE, in plain text
        assert answer.json["success"] is False
    assert server.healthy()
    assert server.send(SEED_REQUEST, AUTH).status == 200


def post_streaming(port: int, head: bytes, pieces) -> bytes:
    """Send ``head`` then ``pieces`` until the server answers, as a careful client does;
    returns the status line. The server refusing early is the point: no 10 MB is buffered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(head)
        for piece in pieces:
            if select.select([conn], [], [], 0)[0]:
                break
            try:
                conn.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and hung up meanwhile
        return conn.makefile("rb").readline()


HEAD = (
    b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-API-Key: "
    + KEY.encode()
)


def test_a_10_mb_body_is_a_413_before_it_is_read(server):
    string = b'{"to": "a@example.org", "subject": "s", "body": "' + b"x" * TEN_MB + b'"}'
    head = HEAD + b"\r\nContent-Length: %d\r\n\r\n" % len(string)
    status_line = post_streaming(server.port, head, [])
    assert status_line.split()[1] == b"413"
    assert server.healthy()


def test_a_chunked_10_mb_body_is_a_413(server):
    piece = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
    head = HEAD + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    status_line = post_streaming(server.port, head, [piece] * (TEN_MB // 16384))
    assert status_line.split()[1] == b"413"
    assert server.healthy()


@pytest.mark.parametrize(
    "header", [b"X-API-Key: " + KEY.encode() + b"\rBcc: x", b"X-API-Key: a\x00b", b"X Api Key: x"]
)
def test_a_malformed_header_line_is_a_400_from_the_server(server, header):
    request = (
        b"POST /send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + header
        + b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"400"
    assert server.healthy()
