"""The `portal` command group and what its commands share."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
from flask import Flask
from sqlalchemy.engine import Engine

from portal import create_app

MAX_LINE = 100


class CommandError(click.ClickException):
    """Input the command cannot use: one sentence on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"portal: {self.message}", err=True)


@click.group(help="Operate the partner delegation portal. PORTAL_ENV picks the settings.")
def cli() -> None:
    pass


@contextmanager
def app_context() -> Iterator[Flask]:
    app = create_app(check_database=False)
    with app.app_context():
        yield app


def engine_of(app: Flask) -> Engine:
    from portal import db

    return db.database(app).engine


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT, so work in progress finishes before the exit."""
    stop = threading.Event()

    def request_stop(_signal: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
