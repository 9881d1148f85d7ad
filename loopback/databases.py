"""PostgreSQL databases of their own on the shared server, created migrated and dropped with
everything in them."""

from __future__ import annotations

import os
import re
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from portal import db, schema
from portal.crypto import FileKeyring
from portal.crypto.keycheck import register_keyring

POSTGRES_SERVER_URL = os.environ.get(
    "PORTAL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def psycopg_url(url: str) -> str:
    return str(make_url(url).set(drivername="postgresql+psycopg").render_as_string(False))


def admin_engine() -> Engine:
    """An AUTOCOMMIT engine on the PostgreSQL server, for creating and dropping databases."""
    return sa.create_engine(psycopg_url(POSTGRES_SERVER_URL), isolation_level="AUTOCOMMIT")


def create_database(admin: Engine, purpose: str) -> str:
    """A new, empty PostgreSQL database; returns its URL."""
    name = f"portal_{purpose}_{uuid.uuid4().hex[:10]}"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"not a safe database name: {name}")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return psycopg_url(str(make_url(POSTGRES_SERVER_URL).set(database=name)))


def drop_database(admin: Engine, url: str) -> None:
    name = make_url(url).database
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def migrated_engine(url: str, keyring: FileKeyring) -> Engine:
    """The database brought to the newest migration, with `keyring` registered in it."""
    engine = db.make_engine(url)
    schema.upgrade(engine)
    with Session(engine) as session, session.begin():
        register_keyring(session, keyring)
    return engine
