"""Prometheus metrics at ``GET /metrics`` (prometheus_client, text exposition format).

Each app counts on a CollectorRegistry of its own, not the library's global one: a process
(the tests) may build many apps. What is counted:

- every message's outcome, from the Mailer's events (message_log.MessageEvent), and how long
  its send took, by transport;
- every HTTP request by route *template* (``/forms/{name}``: never the raw path, which a
  client could make endless) and status; rate-limited requests (429) and form submissions;
- the SMTP pools' open and idle connections, read from the pools when scraped.
"""

from __future__ import annotations

import functools
import hmac

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..guard.auth import ApiKeyAuth, presented_key
from ..message_log import MessageEvent
from .errors import ApiError

# Seconds: a file write takes a millisecond, a pooled SMTP send tens, a fresh TLS login and
# a slow relay seconds; SMTP_TIMEOUT cuts a send at 3 x 10 s by default.
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# What generate_latest writes, the text format every Prometheus reads (the library's
# CONTENT_TYPE_LATEST names a newer version in its latest releases).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "(unmatched)"  # the route label of a request no route took (a 404)


class Metrics:
    """The app's metrics; ``observe`` is a Mailer observer, ``middleware`` counts requests."""

    def __init__(self, mailer, form_names=()):
        self.registry = registry = CollectorRegistry()
        self.messages = Counter(
            "dinky_mail_messages",
            "Messages by transport and outcome (sent, refused, failed, unknown).",
            ["transport", "outcome"],
            registry=registry,
        )
        self.send_seconds = Histogram(
            "dinky_mail_send_seconds",
            "Time a send took, building the message included.",
            ["transport"],
            buckets=SEND_BUCKETS,
            registry=registry,
        )
        self.http_requests = Counter(
            "dinky_mail_http_requests",
            "HTTP requests by route template and status.",
            ["route", "status"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "dinky_mail_rate_limited",
            "Requests refused by a rate limit (429).",
            ["route"],
            registry=registry,
        )
        self.duplicates = Counter(
            "dinky_mail_duplicates",
            "Requests answered from the idempotency store, nothing "
            "sent again (an Idempotency-Key replayed, a form submitted twice).",
            registry=registry,
        )
        self.honeypots = Counter(
            "dinky_mail_honeypot",
            "Form submissions with the honeypot filled: nothing sent.",
            ["form"],
            registry=registry,
        )
        self.form_submissions = Counter(
            "dinky_mail_form_submissions",
            "POSTs to a configured form, whatever came of them.",
            ["form"],
            registry=registry,
        )
        self.form_names = frozenset(form_names)
        # Each request and message finds its labelled child here: ``labels()`` checks and
        # converts its arguments and takes a lock on every call. The label values come
        # from small fixed sets, so these stay small.
        self.message_child = functools.cache(self.messages.labels)
        self.seconds_child = functools.cache(self.send_seconds.labels)
        self.request_child = functools.cache(self.http_requests.labels)
        registry.register(SmtpPools(mailer))
        self.middleware = RequestCounter(self)

    def observe(self, event: MessageEvent) -> None:
        if event.outcome == "duplicate":
            self.duplicates.inc()
        elif event.outcome == "honeypot":
            self.honeypots.labels(event.form or "").inc()
        else:
            transport = event.transport or "none"  # refused before any transport took it
            self.message_child(transport, event.outcome).inc()
            if event.seconds is not None:
                self.seconds_child(transport).observe(event.seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestCounter:
    """Middleware, outermost: it sees every answer, the 401s and 429s of the others included."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def process_resource(self, req, resp, resource, params) -> None:
        name = params.get("name")
        if req.method == "POST" and name in self.metrics.form_names:  # only known names: bounded
            req.context.form_submitted = name

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        route = req.uri_template or UNMATCHED
        status = resp.status_code
        self.metrics.request_child(route, status).inc()
        if status == 429:
            self.metrics.rate_limited.labels(route).inc()
        form = req.context.get("form_submitted")
        if form is not None:
            self.metrics.form_submissions.labels(form).inc()


class SmtpPools:
    """A collector reading each SMTP transport's pool when scraped (smtp_pool.SmtpPool)."""

    def __init__(self, mailer):
        self.mailer = mailer

    def describe(self):
        return self._families()

    def collect(self):
        families = self._families()
        open_, idle = families
        for name, transport in self.mailer.transports:
            pool = getattr(transport, "pool", None)
            if pool is not None:
                open_.add_metric([name], pool.open_count)
                idle.add_metric([name], pool.idle_count)
        return families

    @staticmethod
    def _families():
        return [
            GaugeMetricFamily(
                "dinky_mail_smtp_connections_open",
                "SMTP connections open (in use, being opened, or idle), by transport.",
                labels=["transport"],
            ),
            GaugeMetricFamily(
                "dinky_mail_smtp_connections_idle",
                "Open SMTP connections waiting in the pool for the next message.",
                labels=["transport"],
            ),
        ]


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
