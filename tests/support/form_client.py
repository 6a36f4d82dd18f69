"""Posting to /forms/{name} as a browser or a fetch client would: raw HTTP, no redirects followed."""

from __future__ import annotations

import http.client
import uuid
from urllib.parse import urlencode

from support.live_server import Answer

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JSON = {"Accept": "application/json"}


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def urlencoded(fields: list[tuple[str, str]]) -> tuple[bytes, str]:
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


def multipart(fields: list[tuple[str, str]], files=()) -> tuple[bytes, str]:
    """``files``: (field, filename, content type, bytes), as a browser's file input sends them."""
    boundary = uuid.uuid4().hex
    chunks = []
    for name, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, filename, content_type, content in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
            f"\r\nContent-Type: {content_type}\r\n\r\n".encode()
            + content
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def submit(port: int, form: str, encoded: tuple[bytes, str], headers=None) -> Answer:
    """POST an encoded form to /forms/<form>; a browser's Accept unless ``headers`` say otherwise."""
    body, content_type = encoded
    all_headers = {"Content-Type": content_type, "Accept": BROWSER_ACCEPT, **(headers or {})}
    return request(port, "POST", f"/forms/{form}", body, all_headers)
