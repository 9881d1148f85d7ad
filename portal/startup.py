"""Checks a serving process makes before it accepts requests (/readyz repeats them while it
serves: portal.health.checks.py)."""

from __future__ import annotations

import functools

from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from portal import db, schema
from portal.config import ConfigError
from portal.connector.factory import ConnectorNotConfigured
from portal.connector.runtime import cms_adapter
from portal.crypto import KeyringError, runtime
from portal.crypto.keycheck import verify_keyring


@functools.cache
def code_head() -> str:
    """The migration head this code needs; the scripts cannot change under a running process,
    so they are read once, not on every readiness probe."""
    return schema.head_revision()


def check_ready_to_serve(app: Flask) -> None:
    """Refuse to start, in one sentence, unless the database is reachable and migrated and
    the keyring belongs to it."""
    database = db.database(app)
    try:
        with database.engine.connect() as connection:
            current = schema.current_revision(connection)
    except DBAPIError:
        url = make_url(str(database.engine.url)).render_as_string(hide_password=True)
        raise ConfigError(
            f"Cannot connect to the database at {url}: check that it is running and that "
            "[database] url is right."
        ) from None
    head = code_head()
    if current != head:
        raise ConfigError(
            f"The database schema is at revision {current or 'none'} but this code needs {head}: "
            "run `portal db upgrade`."
        )
    with database.sessions() as db_session:
        try:
            verify_keyring(db_session, runtime.keyring(app))
        except KeyringError as error:
            raise ConfigError(str(error)) from None
    try:
        with app.app_context():
            cms_adapter()  # its secret and mapping are read now, not at the first lookup
    except ConnectorNotConfigured as error:
        raise ConfigError(str(error)) from None
