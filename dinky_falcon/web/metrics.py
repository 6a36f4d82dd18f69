"""Prometheus metrics at ``GET /metrics`` (text exposition format).

Each app counts on its own, in plain dicts: a process (the tests) may build many apps, and
prometheus_client (about 1 MB) is imported only when /metrics is first scraped
(web/exposition.py builds the text from these counts), so an idle replica never holds it.
What is counted:

- every message's outcome, from the Mailer's events (message_log.MessageEvent), and how long
  its send took, by transport;
- every HTTP request by route *template* (``/forms/{name}``: never the raw path, which a
  client could make endless) and status; rate-limited requests (429) and form submissions;
- the SMTP pools' open and idle connections, read from the pools when scraped.
"""

from __future__ import annotations

import bisect
import hmac
import threading
import time

import falcon

from ..guard.auth import ApiKeyAuth, presented_key
from ..message_log import MessageEvent
from .errors import ApiError

# Seconds: a file write takes a millisecond, a pooled SMTP send tens, a fresh TLS login and
# a slow relay seconds; SMTP_TIMEOUT cuts a send at 3 x 10 s by default.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# What the library's generate_latest writes, the text format every Prometheus reads (its
# CONTENT_TYPE_LATEST names a newer version in its latest releases).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "(unmatched)"  # the route label of a request no route took (a 404)


class Metrics:
    """The app's counts; ``observe`` is a Mailer observer, ``middleware`` counts requests.

    Each counter is a dict from a tuple of label values to a cell ``[value, created]``
    (created: when the labels were first seen, Prometheus's ``_created``); the histogram's
    cells are ``[bucket counts, sum, created]``. The label values come from small fixed sets,
    so the dicts stay small. waitress counts from several threads: every update and the
    scrape's copy hold ``lock`` (a read-modify-write such as ``+= 1`` is not atomic between
    threads; an uncontended lock costs about as much as a dict lookup).
    """

    buckets = SEND_BUCKETS  # the histogram's upper bounds, for web/exposition.py

    def __init__(self, mailer, form_names=()):
        self.mailer = mailer
        self.lock = threading.Lock()
        self.messages: dict[tuple, list] = {}  # (transport, outcome)
        self.send_seconds: dict[tuple, list] = {}  # (transport,)
        self.http_requests: dict[tuple, list] = {}  # (route, status)
        self.rate_limited: dict[tuple, list] = {}  # (route,)
        self.duplicates = {(): [0, time.time()]}  # no labels: there from the start, at 0
        self.honeypots: dict[tuple, list] = {}  # (form,)
        self.form_submissions: dict[tuple, list] = {}  # (form,)
        self.form_names = frozenset(form_names)
        self.middleware = RequestCounter(self)

    def count(self, counts: dict, key: tuple) -> None:
        with self.lock:
            cell = counts.get(key)
            if cell is None:
                counts[key] = [1, time.time()]
            else:
                cell[0] += 1

    def observe(self, event: MessageEvent) -> None:
        if event.outcome == "duplicate":
            self.count(self.duplicates, ())
        elif event.outcome == "honeypot":
            self.count(self.honeypots, (event.form or "",))
        else:
            transport = event.transport or "none"  # refused before any transport took it
            self.count(self.messages, (transport, event.outcome))
            if event.seconds is not None:
                self.time_send(transport, event.seconds)

    def time_send(self, transport: str, seconds: float) -> None:
        # The first bucket whose bound is >= seconds; past the last bound, +Inf's.
        bucket = bisect.bisect_left(SEND_BUCKETS, seconds)
        with self.lock:
            cell = self.send_seconds.get((transport,))
            if cell is None:
                cell = self.send_seconds[transport,] = [
                    [0] * (len(SEND_BUCKETS) + 1),
                    0.0,
                    time.time(),
                ]
            cell[0][bucket] += 1
            cell[1] += seconds

    def snapshot(self) -> dict[str, dict[tuple, list]]:
        """A copy of every count, taken at once: a histogram's count and sum agree."""
        with self.lock:
            copies = {
                name: {key: list(cell) for key, cell in getattr(self, name).items()}
                for name in COUNTERS
            }
            copies["send_seconds"] = {
                key: [list(buckets), total, created]
                for key, (buckets, total, created) in self.send_seconds.items()
            }
        return copies

    def exposition(self) -> bytes:
        # Imported here, at the first scrape: an idle service never loads prometheus_client.
        from .exposition import exposition

        return exposition(self)


# The counters by attribute name, in the order the scrape lists them (the histogram,
# send_seconds, comes second: see exposition.FAMILIES).
COUNTERS = (
    "messages",
    "http_requests",
    "rate_limited",
    "duplicates",
    "honeypots",
    "form_submissions",
)


class RequestCounter:
    """Middleware, outermost: it sees every answer, the 401s and 429s of the others included."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def process_resource(self, req, resp, resource, params) -> None:
        name = params.get("name")
        if req.method == "POST" and name in self.metrics.form_names:  # only known names: bounded
            req.context.form_submitted = name

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        metrics = self.metrics
        route = req.uri_template or UNMATCHED
        status = resp.status_code
        metrics.count(metrics.http_requests, (route, status))
        if status == 429:
            metrics.count(metrics.rate_limited, (route,))
        form = req.context.get("form_submitted")
        if form is not None:
            metrics.count(metrics.form_submissions, (form,))


class MetricsResource:
    """``GET /metrics``. Its own guard, so that the rate limits never count a scrape: any API
    key, or METRICS_TOKEN as a bearer token; open when neither is configured."""

    public = True  # skips the API key middleware and the rate limits: guarded here instead

    def __init__(self, metrics: Metrics, api_keys, token: str):
        self.metrics = metrics
        self.keys = ApiKeyAuth(api_keys)
        self.token = token
        self.guarded = bool(api_keys or token)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self.guarded and not self.allowed(presented_key(req)):
            raise ApiError(
                falcon.HTTP_401,
                "Unauthorized",
                "Send an API key or METRICS_TOKEN as 'Authorization: Bearer TOKEN'.",
                headers={"WWW-Authenticate": 'Bearer realm="dinky-falcon"'},
            )
        resp.content_type = CONTENT_TYPE
        resp.data = self.metrics.exposition()

    def allowed(self, presented: str | None) -> bool:
        if not presented:
            return False
        token_matches = bool(self.token) and hmac.compare_digest(
            presented.encode("utf-8", "replace"), self.token.encode()
        )
        return token_matches or self.keys.match(presented) is not None
