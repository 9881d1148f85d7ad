"""Security headers on every response, and a per-request CSP nonce. (The request id is
portal.observability.request_log's.)"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

_PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


def csp_nonce() -> str:
    """The request's CSP nonce, made the first time a page or the headers ask for it. Not in a
    before_request hook: hooks that run before it (the CSRF check, reading a too-large form,
    the session store) refuse requests with error pages whose scripts need the nonce too."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    nonce: str = g.csp_nonce
    return nonce


def init_app(app: Flask) -> None:
    hsts = app.config["SESSION_COOKIE_SECURE"]

    @app.context_processor
    def nonce() -> dict[str, str]:
        return {"cspNonce": csp_nonce()}

    @app.after_request
    def set_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{csp_nonce()}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = _PERMISSIONS_POLICY
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if hsts:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static":
            # Pages may carry personal data: never kept by browsers or proxies.
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        return response
