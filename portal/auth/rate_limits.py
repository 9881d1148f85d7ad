"""Rate limits on signing in, counted per client address in shared storage (Redis in
production, so every web process counts together; memory for the one-process demo).

One Flask-Limiter per app: its storage and key prefix are the app's own settings.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from portal.config import Settings

_EXTENSION = "portal.rate_limits"
# Every step of signing in draws on one budget; showing the sign-in form is free.
SIGN_IN_ENDPOINTS = ("auth.sign_in", "auth.start", "auth.callback")


def init_app(app: Flask, settings: Settings) -> None:
    security = settings.security
    limiter = Limiter(
        get_remote_address,
        storage_uri=security.rate_limit_storage,
        key_prefix=security.rate_limit_key_prefix,
        headers_enabled=True,
    )
    limiter.init_app(app)
    app.extensions[_EXTENSION] = limiter
    limit = limiter.shared_limit(
        security.sign_in_rate_limit, scope="sign-in", exempt_when=_just_looking
    )
    for endpoint in SIGN_IN_ENDPOINTS:
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # type: ignore[assignment]


def _just_looking() -> bool:
    return request.endpoint == "auth.sign_in" and request.method == "GET"
