"""Rate limits on signing in, counted per client address in shared storage (Redis in
production, so every web process counts together; memory for the one-process demo).

One Flask-Limiter per app: its storage and key prefix are the app's own settings.

Fail safe when Redis is unreachable (down, or not answering within a second): each process
keeps applying the same limits, counted in its own memory, so signing in stays limited (per
process rather than across them) and every other page keeps working; a process goes back to
the shared counters once Redis answers again. It rechecks at growing intervals (about 1, 2, 4,
8, 16 and 32 seconds, then from the start), so that can take up to a minute. Failing open
(Flask-Limiter's `swallow_errors`) would let an attacker who can disturb Redis guess without
limit; failing closed would lock everyone out of signing in.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from portal.config import Settings

_EXTENSION = "portal.rate_limits"
# Every step of signing in draws on one budget; showing the sign-in form is free.
SIGN_IN_ENDPOINTS = ("auth.sign_in", "auth.start", "auth.callback")
# Providers' back-channel logouts come server to server: a budget of their own, so a flood of
# bad logout tokens can neither fill the audit trail nor use up people's sign-in budget.
BACK_CHANNEL_LIMIT = "120 per minute"
# The public receipt check (portal/receipts): anyone may upload, so uploads are counted; the
# page itself is free.
RECEIPT_CHECK_LIMIT = "30 per minute"
# The audit log's public heads and proofs (portal/audit/public_log.py): cheap, but anyone may
# ask, and a consistency proof reads the tree.
AUDIT_LOG_LIMIT = "120 per minute"
AUDIT_LOG_ENDPOINTS = ("audit_log.checkpoint", "audit_log.consistency", "audit_log.key")
# How long a request waits for Redis before counting in memory instead. A Redis that accepts
# connections but never answers is waited for twice per sign-in (counting, then the headers):
# redis-py's default of five seconds would hold each one for ten.
REDIS_TIMEOUT_SECONDS = 1


def init_app(app: Flask, settings: Settings) -> None:
    security = settings.security
    limiter = Limiter(
        get_remote_address,
        storage_uri=security.rate_limit_storage,
        storage_options=_storage_options(security.rate_limit_storage),
        key_prefix=security.rate_limit_key_prefix,
        headers_enabled=True,
        in_memory_fallback_enabled=True,  # fail safe: see above
    )
    limiter.init_app(app)
    app.extensions[_EXTENSION] = limiter
    limit = limiter.shared_limit(
        security.sign_in_rate_limit, scope="sign-in", exempt_when=_just_looking
    )
    back_channel = limiter.shared_limit(BACK_CHANNEL_LIMIT, scope="back-channel-logout")
    budgets = {endpoint: limit for endpoint in SIGN_IN_ENDPOINTS}
    budgets["auth.back_channel_logout"] = back_channel
    budgets["receipts.verify"] = limiter.shared_limit(
        RECEIPT_CHECK_LIMIT, scope="receipt-check", exempt_when=_just_looking
    )
    audit_log = limiter.shared_limit(AUDIT_LOG_LIMIT, scope="audit-log")
    budgets.update({endpoint: audit_log for endpoint in AUDIT_LOG_ENDPOINTS})
    for endpoint, budget in budgets.items():
        app.view_functions[endpoint] = budget(app.view_functions[endpoint])  # type: ignore[assignment]


def _storage_options(storage_uri: str) -> dict[str, str | int]:
    if not storage_uri.startswith(("redis://", "rediss://")):
        return {}
    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
    }


def _just_looking() -> bool:
    return request.endpoint in ("auth.sign_in", "receipts.verify") and request.method == "GET"
