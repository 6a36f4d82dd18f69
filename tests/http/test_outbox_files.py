"""The outbox reads files anyone with access to OUTBOX_DIR may have put there: a link to a
file elsewhere, a directory named like a message, an envelope in any shape, a sender's
attachment name made to break the download's header. None shows a file from outside, none
answers 500."""

import json
import re
import urllib.parse

import pytest
from falcon import testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dinky_falcon.app import create_app
from dinky_falcon.web.outbox import download_name

MESSAGE = b"Subject: kept\r\nFrom: a@example.org\r\nTo: b@example.org\r\n\r\nHello\r\n"
SECRET = b"Subject: outside\r\n\r\nTOP SECRET\r\n"


@pytest.fixture
def outbox(make_settings, tmp_path):
    # As a browser on the developer's machine asks for it (outbox_host refuses other names).
    app = create_app(make_settings(MAIL_TRANSPORT="file"))
    client = testing.TestClient(app, headers={"Host": "localhost:20001"})
    directory = tmp_path / "outbox"
    directory.mkdir(exist_ok=True)
    return client, directory


def routes(id_: str) -> list[str]:
    q = urllib.parse.quote(id_, safe="")
    return [
        f"/outbox/{q}",
        f"/outbox/{q}/html",
        f"/outbox/messages/{q}",
        f"/outbox/messages/{q}.eml",
        f"/outbox/messages/{q}/attachments/0",
    ]


def test_a_link_or_a_directory_in_the_outbox_shows_nothing_from_elsewhere_nor_answers_500(
    outbox, tmp_path
):
    client, directory = outbox
    (tmp_path / "secret.eml").write_bytes(SECRET)
    (directory / "20250101-link.eml").symlink_to(tmp_path / "secret.eml")
    (directory / "20250101-dir.eml").mkdir()
    (directory / "20250101-kept.eml").write_bytes(MESSAGE)

    for path in ("/outbox", "/outbox/messages"):
        answer = client.simulate_get(path)
        assert answer.status_code == 200, path
        assert b"TOP SECRET" not in answer.content and b"outside" not in answer.content
    assert [m["id"] for m in client.simulate_get("/outbox/messages").json["messages"]] == [
        "20250101-kept"
    ]
    for id_ in ("20250101-link", "20250101-dir"):
        for path in routes(id_):
            answer = client.simulate_get(path)
            assert answer.status_code == 404, path
            assert b"TOP SECRET" not in answer.content
    assert client.simulate_delete("/outbox/messages").json == {"deleted": 1}
    assert (tmp_path / "secret.eml").read_bytes() == SECRET


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
ENVELOPES = (
    st.binary(max_size=200)
    | JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries({"sender": JSON_VALUES, "recipients": JSON_VALUES}).map(
        lambda v: json.dumps(v).encode()
    )
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(envelope=ENVELOPES, eml=st.binary(max_size=300) | st.just(MESSAGE))
def test_any_message_or_envelope_file_is_shown_without_a_500(outbox, envelope, eml):
    client, directory = outbox
    (directory / "m.eml").write_bytes(eml)
    (directory / "m.envelope.json").write_bytes(envelope)
    for path in ("/outbox", "/outbox/messages", *routes("m")):
        assert client.simulate_get(path).status_code in (200, 404), path


def test_an_envelope_nested_beyond_what_json_reads_is_shown_as_not_recorded(outbox):
    client, directory = outbox
    (directory / "m.eml").write_bytes(MESSAGE)
    (directory / "m.envelope.json").write_text("[" * 100_000)
    assert client.simulate_get("/outbox/m").status_code == 200
    assert client.simulate_get("/outbox/messages/m").json["envelope"] == {}


def attachment_named(filename: str) -> bytes:
    encoded = urllib.parse.quote(filename.encode("utf-8", "surrogatepass"), safe="")
    return (
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        "--XX\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        "--XX\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{encoded}\r\n\r\nbytes\r\n--XX--\r\n"
    ).encode()


ONE_FILENAME = re.compile(
    r"""attachment; filename=("[^"\\]*"|[\w.-]+)(; filename\*=UTF-8''[\w%.~!$&+^`|#-]*)?""",
    re.ASCII,
)


@pytest.mark.parametrize(
    "filename",
    [
        "a\r\nSet-Cookie: session=stolen.txt",
        "report.txt\"; filename*=UTF-8''evil.html",
        "nul\x00.txt",
        'quote"\\back.txt',
        "ünïcode\r\n.txt",
    ],
)
def test_an_attachment_name_cannot_break_out_of_its_content_disposition(outbox, filename):
    client, directory = outbox
    (directory / "m.eml").write_bytes(attachment_named(filename))
    answer = client.simulate_get("/outbox/messages/m/attachments/0")
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition.isprintable() and "Set-Cookie" not in answer.headers
    # One name, quoted or as a token, and for a name not in ASCII its RFC 5987 form (all of
    # it percent-encoded): nothing the sender wrote added a parameter of its own.
    assert ONE_FILENAME.fullmatch(disposition), disposition
    if filename.isascii():
        assert disposition == f'attachment; filename="{download_name(filename)}"'


@given(st.text())
def test_a_download_name_is_one_printable_quoted_string(filename):
    name = download_name(filename)
    assert name.isprintable() and '"' not in name and "\\" not in name
    assert len(name) <= 255


def test_a_message_with_raw_8bit_headers_is_shown_not_a_500(outbox):
    # Bytes that are not UTF-8 in a header: the parser keeps them as lone surrogates.
    client, directory = outbox
    (directory / "m.eml").write_bytes(
        b"Subject: caf\xe9\r\nFrom: \xff@example.org\r\nX-Note: \xed\xa0\x80\r\n\r\nHello\r\n"
    )
    for path in ("/outbox", "/outbox/messages", "/outbox/m", "/outbox/messages/m"):
        assert client.simulate_get(path).status_code == 200, path
    headers = dict(client.simulate_get("/outbox/messages/m").json["headers"])
    assert headers["Subject"] == "caf\ufffd"
