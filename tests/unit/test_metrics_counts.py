"""The app counts in plain dicts (web/metrics.py) and prometheus_client writes the text at a
scrape (web/exposition.py): every send time lands in the bucket, count and sum that the
library's own Histogram gives it."""

import functools
import tempfile

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from dinky_falcon.config.settings import Settings
from dinky_falcon.mailer import Mailer
from dinky_falcon.web.metrics import SEND_BUCKETS, Metrics

# Right on a bound, just either side of it, and anything from nothing to past the last one.
SECONDS = st.one_of(
    st.sampled_from(SEND_BUCKETS),
    st.sampled_from(SEND_BUCKETS).map(lambda bound: bound * (1 + 1e-12)),
    st.sampled_from(SEND_BUCKETS).map(lambda bound: bound * (1 - 1e-12)),
    st.floats(min_value=0, max_value=1000, allow_nan=False),
)


@functools.cache
def mailer() -> Mailer:
    scratch = tempfile.mkdtemp()
    settings = Settings.from_env(
        {
            "ENVIRONMENT": "development",
            "MAIL_DOMAIN": "example.org",
            "MAIL_TRANSPORT": "memory",
            "DATA_DIR": scratch,
            "OUTBOX_DIR": scratch,
        },
        env_file=None,
    )
    return Mailer.from_settings(settings)


def histogram_lines(text: bytes) -> list[str]:
    lines = text.decode().splitlines()
    return [line for line in lines if line.startswith("dinky_mail_send_seconds_")]


@given(st.lists(SECONDS, max_size=30))
def test_send_times_fall_where_prometheus_client_s_histogram_puts_them(times):
    metrics = Metrics(mailer())
    registry = CollectorRegistry()
    library = Histogram(
        "dinky_mail_send_seconds",
        "Time a send took, building the message included.",
        ["transport"],
        buckets=SEND_BUCKETS,
        registry=registry,
    )
    for seconds in times:
        metrics.time_send("smtp", seconds)
        library.labels("smtp").observe(seconds)
    ours = [line for line in histogram_lines(metrics.exposition()) if "_created" not in line]
    theirs = [line for line in histogram_lines(generate_latest(registry)) if "_created" not in line]
    assert ours == theirs
