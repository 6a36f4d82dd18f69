"""The Falcon application: ``create_app(settings)`` wires it, ``get_app()`` reads the environment."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import falcon
import pluggy

from .config.settings import Settings
from .forms.resource import FormResource
from .guard.build import build_guards
from .idempotency import open_store
from .log_writer import info
from .logs import configure_logging
from .mailer import Mailer
from .web.body import REPLAYED_HEADER
from .web.errors import add_error_handlers
from .web.health import HealthResource, ReadinessResource
from .web.metrics import Metrics, MetricsResource
from .web.openapi import OpenApiResource, build_spec
from .web.outbox_page import add_outbox_routes
from .web.schemas import SendSchema
from .web.send import SendResource

access_log = logging.getLogger("dinky_falcon.access")


def cors_origins(allowed_hosts: tuple[str, ...]) -> list[str] | str:
    """ALLOWED_HOSTS -> CORS origins: a bare host name allows both http:// and https://."""
    if "*" in allowed_hosts:
        return "*"
    origins = []
    for host in allowed_hosts:
        if "://" in host:
            origins.append(host.rstrip("/"))
        else:
            origins += [f"http://{host}", f"https://{host}"]
    return origins


class AccessLog:
    """One line per request: method, path, status, milliseconds."""

    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        elapsed = (time.perf_counter() - req.context.started) * 1000
        key = req.context.get("api_key")
        info(
            access_log,
            "%s %s %s %.1fms%s",
            req.method,
            req.path,
            resp.status[:3],
            elapsed,
            f" key={key.label}" if key is not None else "",
        )


def create_app(
    settings: Settings,
    plugins: pluggy.PluginManager | None = None,
    *,
    mailer: Mailer | None = None,
    clock: Callable[[], float] = time.time,
    idempotency=None,
) -> falcon.App:
    """The WSGI app for ``settings``; builds the Mailer (and so the transports) and the
    idempotency store (idempotency.open_store) unless given.

    ``clock`` (seconds since the epoch) is what the rate limits count windows by.
    """
    mailer = mailer or Mailer.from_settings(settings, plugins)
    idempotency = idempotency or open_store(settings)
    origins = cors_origins(settings.allowed_hosts)
    guards = build_guards(settings, origins, clock)
    metrics = Metrics(mailer, [form.name for form in settings.forms])
    mailer.observers.append(metrics.observe)
    # Without ALLOWED_HOSTS no origin gets CORS headers: the middleware would only look.
    cors = [falcon.CORSMiddleware(allow_origins=origins, expose_headers=[REPLAYED_HEADER])]
    app = falcon.App(
        middleware=[
            metrics.middleware,
            AccessLog(),
            *guards.before_cors,
            *(cors if origins else []),
            *guards.after_cors,
        ],
    )
    app.req_options.strip_url_path_trailing_slash = True
    # Falcon's own JSON handler calls json.dumps(answer, ensure_ascii=False), which builds an
    # encoder for every answer; one encoder with the same option writes the same text.
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = falcon.media.JSONHandler(
        dumps=json.JSONEncoder(ensure_ascii=False).encode
    )
    schema = SendSchema(
        max_recipients=settings.max_recipients,
        max_attachment_bytes=settings.max_attachment_bytes,
        max_attachments=settings.max_attachments,
        test_domains=settings.accepts_test_domains,
    )
    send = SendResource(mailer, schema, settings.max_body_size, guards.policy, idempotency)
    app.add_route("/send", send)
    app.add_route("/health", HealthResource(mailer.transport_name, mailer.transport_plugin))
    app.add_route("/health/ready", ReadinessResource(mailer, idempotency))
    app.add_route("/openapi.json", OpenApiResource(lambda: build_spec(schema, settings.forms)))
    app.add_route("/metrics", MetricsResource(metrics, settings.api_keys, settings.metrics_token))
    add_outbox_routes(app, settings)
    # /forms/{name} (see forms/resource.py); its errors answer browsers with pages.
    forms = FormResource(
        settings,
        mailer,
        mailer.pm,
        guards.form_limit,
        guards.client_ip,
        origins,
        idempotency,
        clock,
    )
    app.add_route("/forms/{name}", forms)
    app.add_route("/forms/{name}/token", forms, suffix="token")
    app.add_route("/forms/{name}/thanks", forms, suffix="thanks")
    add_error_handlers(
        app, development=settings.environment == "development", pages={"/forms/": forms.error_page}
    )
    return app


def get_app() -> falcon.App:
    """For WSGI hosts (``waitress-serve --call dinky_falcon.app:get_app``): reads the environment."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)
