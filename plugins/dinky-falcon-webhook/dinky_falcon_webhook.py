"""``webhook``: POST each message as JSON to WEBHOOK_URL instead of sending mail.

Variables: WEBHOOK_URL (required), WEBHOOK_SECRET (optional: HMAC-SHA256 signature of the body
in the ``X-Dinky-Signature: sha256=<hex>`` header), WEBHOOK_TIMEOUT (seconds, default 10).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

from dinky_falcon import ConfigError, OutcomeUnknown, TransportError, hookimpl

SIGNATURE_HEADER = "X-Dinky-Signature"
DEFAULT_TIMEOUT = 10.0
# Statuses that say "try again later"; any other non-2xx answer is final.
TEMPORARY_STATUSES = frozenset({408, 429})


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would re-send a redirected POST as a bodiless GET: make it an error instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def payload(message, envelope) -> dict:
    """The JSON document for one message: envelope addresses, bodies and every header."""
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "from": envelope.sender,
        "to": list(envelope.recipients),
        "subject": str(message["Subject"] or ""),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "headers": {name: str(value) for name, value in message.items()},
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTransport:
    def __init__(self, settings):
        self.url = settings.get("WEBHOOK_URL", "").strip()
        if not self.url:
            raise ConfigError("WEBHOOK_URL is required by the webhook transport")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # The URL may carry a token: say what is wrong without echoing it.
            raise ConfigError("WEBHOOK_URL must be an http:// or https:// URL with a host")
        self.secret = settings.get("WEBHOOK_SECRET", "")
        self.timeout = _timeout(settings.get("WEBHOOK_TIMEOUT", ""))
        self.opener = urllib.request.build_opener(_RefuseRedirects)

    def send(self, message, envelope) -> int:
        body = json.dumps(payload(message, envelope)).encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            temporary = exc.code >= 500 or exc.code in TEMPORARY_STATUSES
            raise TransportError(
                f"the webhook answered {exc.code} {exc.reason}", temporary=temporary
            ) from None
        except urllib.error.URLError as exc:
            # urllib wraps what fails while connecting or sending the request: not delivered.
            raise TransportError(
                f"the webhook could not be reached: {exc.reason}", temporary=True
            ) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            # Raised unwrapped only by getresponse(): the whole request was sent and the
            # receiver may have acted on it, so it must be neither retried nor failed over.
            what = (
                f"did not answer within {self.timeout:g} seconds"
                if isinstance(exc, TimeoutError)
                else f"closed the connection before answering ({type(exc).__name__})"
            )
            raise OutcomeUnknown(f"the whole message was posted but the webhook {what}") from None


def _timeout(text: str) -> float:
    if not text.strip():
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 600:
        raise ConfigError(f"WEBHOOK_TIMEOUT={text!r} is not a number of seconds from 0 to 600")
    return seconds


@hookimpl
def register_transports(register):
    register("webhook", WebhookTransport)
