"""The `portal` command group and what its commands share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from sqlalchemy.engine import Engine

from portal import create_app

MAX_LINE = 100


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
