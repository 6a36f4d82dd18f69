"""The Prometheus text of an app's counts (web/metrics.Metrics), built by prometheus_client
when /metrics is scraped. Imported at the first scrape only: the library costs an idle
service about 1 MB. Names, labels, HELP texts and ``_created`` samples are what the
library's Counter and Histogram wrote when they did the counting (docs/observability.md).
"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client import metrics as library
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

# (attribute of Metrics, metric name, HELP, label names), in the order the scrape lists them.
FAMILIES = (
    (
        "messages",
        "dinky_mail_messages",
        "Messages by transport and outcome (sent, refused, failed, unknown).",
        ("transport", "outcome"),
    ),
    (
        "send_seconds",
        "dinky_mail_send_seconds",
        "Time a send took, building the message included.",
        ("transport",),
    ),
    (
        "http_requests",
        "dinky_mail_http_requests",
        "HTTP requests by route template and status.",
        ("route", "status"),
    ),
    (
        "rate_limited",
        "dinky_mail_rate_limited",
        "Requests refused by a rate limit (429).",
        ("route",),
    ),
    (
        "duplicates",
        "dinky_mail_duplicates",
        "Requests answered from the idempotency store, nothing "
        "sent again (an Idempotency-Key replayed, a form submitted twice).",
        (),
    ),
    (
        "honeypots",
        "dinky_mail_honeypot",
        "Form submissions with the honeypot filled: nothing sent.",
        ("form",),
    ),
    (
        "form_submissions",
        "dinky_mail_form_submissions",
        "POSTs to a configured form, whatever came of them.",
        ("form",),
    ),
)


def exposition(metrics) -> bytes:
    """The text of a web/metrics.Metrics' counts (passed in: this module never imports
    that one, which imports it at the first scrape)."""
    return generate_latest(Counts(metrics))


class Counts:
    """A collector (what generate_latest reads) of one scrape's copy of the counts."""

    def __init__(self, metrics):
        self.metrics = metrics

    def collect(self):
        counts = self.metrics.snapshot()
        # PROMETHEUS_DISABLE_CREATED_SERIES (or disable_created_metrics()) leaves _created out.
        created = getattr(library, "_use_created", True)
        for attribute, name, documentation, labels in FAMILIES:
            if attribute == "send_seconds":
                bounds = [floatToGoString(b) for b in (*self.metrics.buckets, float("inf"))]
                yield histogram(name, documentation, labels, counts[attribute], bounds, created)
            else:
                yield counter(name, documentation, labels, counts[attribute], created)
        yield from smtp_pools(self.metrics.mailer)


def counter(name, documentation, labels, cells, created):
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, (value, since) in cells.items():
        family.add_metric([str(value) for value in key], value, since if created else None)
    return family


def histogram(name, documentation, labels, cells, bounds, created):
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for key, (buckets, total, since) in cells.items():
        values = [str(value) for value in key]
        cumulative, running = [], 0
        for bound, count in zip(bounds, buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        family.add_metric(values, cumulative, total)
        if created:
            family.add_sample(name + "_created", dict(zip(labels, values, strict=True)), since)
    return family


def smtp_pools(mailer):
    """Each SMTP transport's pool, read now (smtp_pool.SmtpPool)."""
    open_ = GaugeMetricFamily(
        "dinky_mail_smtp_connections_open",
        "SMTP connections open (in use, being opened, or idle), by transport.",
        labels=["transport"],
    )
    idle = GaugeMetricFamily(
        "dinky_mail_smtp_connections_idle",
        "Open SMTP connections waiting in the pool for the next message.",
        labels=["transport"],
    )
    for name, transport in mailer.transports:
        pool = getattr(transport, "pool", None)
        if pool is not None:
            open_.add_metric([name], pool.open_count)
            idle.add_metric([name], pool.idle_count)
    return [open_, idle]
