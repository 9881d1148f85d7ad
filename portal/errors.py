"""GOV.UK-style error pages. Never a stack trace, never request content."""

from __future__ import annotations

import traceback
from types import TracebackType

from flask import Flask, g, has_request_context, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from portal import db
from portal.crypto.errors import UnknownKeyVersion
from portal.lifecycle import DomainError
from portal.observability.request_log import request_id, request_method
from portal.url_map import PortalMap

ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


class PortalFlask(Flask):
    """Flask, except that an unhandled exception is logged by its type and code frames only.

    An exception's message can carry what the code was handling (a child's name, an answer),
    so neither it nor the query string reaches the log.
    """

    url_map_class = PortalMap  # no route matches a NUL byte

    def log_exception(self, exc_info: ExcInfo) -> None:
        kind, _error, trace = exc_info
        frames = "".join(traceback.format_tb(trace)) if trace else ""
        name = kind.__name__ if kind else "exception"
        self.logger.error(
            "unhandled %s on %s %s (request %s)\n%s",
            name,
            request_method(),
            request.path,
            request_id(),
            frames,
        )


_PAGES = {
    400: ("Sorry, there is a problem with your request", "Go back and try again."),
    403: (
        "You do not have permission to see this page",
        "If you think you should, ask your organisation's partner lead or the council's "
        "portal administrator.",
    ),
    404: (
        "Page not found",
        "If you typed the web address, check it is correct. If you pasted it, check you "
        "copied the entire address.",
    ),
    405: ("Sorry, there is a problem with your request", "Go back and try again."),
    409: (
        "This has changed since you opened the page",
        "Someone else changed it a moment ago, or it was already done. Go back and reload the "
        "page to see it as it is now.",
    ),
    413: (
        "What you sent is too large",
        "Go back and send something smaller.",
    ),
    429: (
        "There have been too many attempts",
        "Wait a few minutes, then try again.",
    ),
    500: (
        "Sorry, there is a problem with the service",
        "Try again later. Anything you saved before this happened is safe.",
    ),
    503: (
        "Sorry, the service is unavailable",
        "Try again in a few minutes. Anything you saved before this happened is safe.",
    ),
}


def render_error(status: int) -> tuple[str, int]:
    title, advice = _PAGES.get(status, _PAGES[500])
    # A server error's page gives the request's id, for the person to quote to the service
    # desk and the service desk to find in the logs: it says nothing about the request.
    reference = None
    if status >= 500:
        _abandon_transaction()
        reference = request_id() if has_request_context() else None
    page = render_template(
        "errors/error.html", title=title, advice=advice, status=status, reference=reference
    )
    return page, status


def _abandon_transaction() -> None:
    """A failed statement leaves the request's session unusable, and the page still needs it
    (the signed-in person's name): roll back first. Nothing of the request is kept anyway."""

    if "db_session" in g:
        g.db_session.rollback()


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        return render_error(status if status in _PAGES else 500)

    @app.errorhandler(DomainError)
    def domain_rule(error: DomainError) -> tuple[str, int]:
        # A state change the rules refuse (a transition that is no longer allowed): the
        # request's transaction is rolled back with the 409.
        app.logger.info("refused: %s", type(error).__name__)
        return render_error(409)

    @app.errorhandler(DBAPIError)
    def database_unavailable(error: DBAPIError) -> tuple[str, int]:
        # Logged without parameters (the engine hides them); the page says only "unavailable",
        # and is made without the database (db.abandon_request).
        db.abandon_request(error)
        return render_error(503)

    @app.errorhandler(UnknownKeyVersion)
    def keyring_behind(_error: UnknownKeyVersion) -> tuple[str, int]:
        # Data under a key version this host's keyring file does not hold yet (a rotation's
        # file not copied here): passing, so "unavailable", not "a problem with the service".
        app.logger.error("keyring lacks a key version in use: copy the newest keyring file here")
        return render_error(503)
