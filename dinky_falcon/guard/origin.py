"""The Origin check: a browser request from an origin outside ALLOWED_HOSTS is refused.

CORS alone only stops a browser from reading the answer; the mail would already be sent.
Requests without an Origin header (website back ends, curl) are not browser requests and pass.
"""

from __future__ import annotations

import falcon

from ..web.errors import ApiError


class OriginCheck:
    """Middleware: 403 for an Origin header that is not one of ``origins`` (or ``"*"``)."""

    def __init__(self, origins: list[str] | str):
        self.origins = origins if origins == "*" else frozenset(o.lower() for o in origins)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        origin = req.get_header("Origin")
        if origin is None or self.origins == "*" or origin.lower() in self.origins:
            return
        raise ApiError(
            falcon.HTTP_403,
            "Origin not allowed",
            f"Browser requests from {origin!r} are not allowed; the operator lists the allowed "
            "origins in ALLOWED_HOSTS.",
        )
