"""``GET /health`` (liveness, no upstream call) and ``GET /health/ready`` (each transport and
the idempotency store really answer)."""

from __future__ import annotations

import falcon

from ..idempotency import StoreUnavailable
from ..mailer import Mailer


class HealthResource:
    """Liveness: cheap, no upstream call."""

    def __init__(self, transport: str, plugin: str):
        self.body = {"status": "ok", "transport": transport, "plugin": plugin}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.body


class ReadinessResource:
    """Readiness: each selected transport really talks to its upstream (connect, TLS, AUTH),
    and the idempotency store answers."""

    def __init__(self, mailer: Mailer, idempotency):
        self.mailer = mailer
        self.idempotency = idempotency

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        transports = self.mailer.check()
        stores = [self.store_readiness()]
        failed = [t for t in transports if not t["ready"]]
        store_failed = [s for s in stores if not s["ready"]]
        if not failed and not store_failed:
            resp.media = {"status": "ok", "transports": transports, "stores": stores}
            return
        if not store_failed and len(failed) < len(transports):
            # Failover still delivers, but whoever watches this should know.
            resp.media = {"status": "degraded", "transports": transports, "stores": stores}
            return
        resp.status = falcon.HTTP_503
        resp.media = {
            "success": False,
            "error": "Mail transport not ready" if failed else "Idempotency store not ready",
            "details": "; ".join(f"{t['name']}: {t['details']}" for t in failed + store_failed),
            "status": "unavailable",
            "transports": transports,
            "stores": stores,
        }

    def store_readiness(self) -> dict:
        # Without its store, no request with an Idempotency-Key can be answered: not ready.
        location = self.idempotency.location  # a URL's password is never part of it
        try:
            self.idempotency.check()
        except StoreUnavailable as exc:
            return {"name": "idempotency", "ready": False, "details": f"{location}: {exc}"}
        return {"name": "idempotency", "ready": True, "details": location}
