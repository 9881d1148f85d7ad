"""GOV.UK-style error pages. Never a stack trace, never request content."""

from __future__ import annotations

from flask import Flask, render_template
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

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
    413: (
        "What you sent is too large",
        "Go back and send something smaller.",
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
    return render_template("errors/error.html", title=title, advice=advice, status=status), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        return render_error(status if status in _PAGES else 500)

    @app.errorhandler(DBAPIError)
    def database_unavailable(error: DBAPIError) -> tuple[str, int]:
        # Logged without parameters (the engine hides them); the page says only "unavailable".
        app.logger.error("database error: %s", type(error.orig).__name__)
        return render_error(503)

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError) -> tuple[str, int]:
        original = error.original_exception
        if original is not None:
            app.logger.error("unhandled %s", type(original).__name__, exc_info=original)
        return render_error(500)
