"""Each request's id, and the one access line the portal writes for it: method, Flask
endpoint, status and duration, never the path's query string or anything sent."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, has_request_context, request, request_finished

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# What a trusted proxy's X-Request-Id may look like (nginx's $request_id is 32 hex digits);
# anything else is replaced, so a header can never smuggle text into a log line.
_INCOMING_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Probes and scrapes arrive every few seconds: their successful answers are logged at DEBUG.
_ROUTINE_ENDPOINTS = frozenset({"health.alive", "health.ready", "observability.metrics"})
_STARTED = "portal.request_started"

access_log = logging.getLogger("portal.access")


def request_id() -> str:
    """This request's id: the X-Request-Id of a proxy the portal trusts ([security]
    proxy_hops > 0) when well-formed, else a new one. The audit trail records it too."""
    found: str | None = g.get("portal_request_id")
    if found is None:
        found = _incoming_request_id() or uuid.uuid4().hex
        g.portal_request_id = found
        g.request_id = found
    return found


def _incoming_request_id() -> str | None:
    settings = current_app.config.get("PORTAL_SETTINGS")
    if settings is None or settings.security.proxy_hops < 1:
        return None
    value = request.headers.get("X-Request-Id", "")
    return value if _INCOMING_ID.fullmatch(value) else None


def request_method() -> str:
    """The method, or OTHER for one no route answers: a client cannot invent log fields or
    metric labels."""
    return request.method if request.method in _METHODS else "OTHER"


def signed_in_user_id() -> str | None:
    """The signed-in person's internal id, if this request has already loaded them; never
    their name, e-mail or subject, and never a database query from inside a log call."""
    user = g.get("_login_user")  # where Flask-Login keeps whoever it loaded: a User, or anonymous
    # The identity map's key, which needs no loaded (or even attached) attributes: the request's
    # session may already be closed when its access line is written.
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    identity = state.identity if state is not None else None
    return str(identity[0]) if identity else None


def elapsed_seconds() -> float:
    started = request.environ.get(_STARTED)
    return time.perf_counter() - started if isinstance(started, float) else 0.0


def add_request_context(record: logging.LogRecord) -> bool:
    """A logging filter: records written during a request carry who and what it was."""
    if has_request_context():
        record.request_id = request_id()
        record.user_id = signed_in_user_id()
        record.method = request_method()
        record.endpoint = request.endpoint
    return True


class _Timed:
    """Notes when the server handed the request over, before Flask does anything with it."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ[_STARTED] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def _keep_request_id() -> None:
    # Settled before anything else can log or audit, so every line and event agree.
    g.request_id = request_id()


def _send_request_id(response: Response) -> Response:
    response.headers["X-Request-Id"] = request_id()
    return response


def _write_access_line(_app: Flask, response: Response, **_extra: Any) -> None:
    status = response.status_code
    endpoint = request.endpoint
    if status >= 500:
        level = logging.WARNING
    elif endpoint in _ROUTINE_ENDPOINTS and status < 400:
        level = logging.DEBUG
    else:
        level = logging.INFO
    access_log.log(
        level,
        "%s %s %s",
        request_method(),
        endpoint or "-",
        status,
        extra={"status": status, "duration_ms": round(elapsed_seconds() * 1000, 1)},
    )


def init_app(app: Flask) -> None:
    """The request id, its response header, and the access line."""
    app.wsgi_app = _Timed(app.wsgi_app)  # type: ignore[method-assign]
    app.before_request(_keep_request_id)
    app.after_request(_send_request_id)
    # Sent once the response is final, error pages included: the status logged is the one sent.
    request_finished.connect(_write_access_line, app)
