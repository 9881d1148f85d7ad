"""Shared fixtures: real PostgreSQL (and SQLite where behaviour differs), each test isolated.

A run creates its own PostgreSQL database on the server named by PORTAL_TEST_DATABASE_URL
(default postgresql://postgres@127.0.0.1:5432/test), migrates it with Alembic, and drops it
at the end. Each test runs inside a transaction that is rolled back, so tests never see each
other's rows. With CI=true an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import (
    POSTGRES_SERVER_URL,
    create_database,
    drop_database,
    migrated_engine,
    psycopg_url,
)
from loopback.tsa import LoopbackTsa
from portal import create_app, db
from portal.audit.signing import CheckpointSigner
from portal.config import Settings, load_settings
from portal.crypto import FileKeyring

TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
BACKENDS = ("postgresql", "sqlite")
both_backends = pytest.mark.parametrize("backend", BACKENDS)
# The audit log's name in its checkpoints (tests/support/audit_log.py signs with it too).
TEST_LOG_ORIGIN = "portal.test/audit"


def test_settings(database_url: str, keyring_path: Path, **sections: Any) -> Settings:
    overrides: dict[str, Any] = {
        "database": {"url": database_url},
        "keyring": {"path": str(keyring_path)},
        "security": {"secret_key": TEST_SECRET_KEY, "session_cookie_secure": False},
    }
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return load_settings(environ={"PORTAL_ENV": "test"}, overrides=overrides)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture(scope="session")
def keyring_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keyring.json"
    FileKeyring.create(path)
    return path


@pytest.fixture(scope="session")
def audit_key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run's checkpoint signing key (Ed25519), outside the database as in production."""
    path = tmp_path_factory.mktemp("audit-key") / "audit-signing-key.pem"
    CheckpointSigner.create(path)
    return path


@pytest.fixture(scope="session")
def keyring(keyring_path: Path) -> FileKeyring:
    return FileKeyring.load(keyring_path)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT connection to the PostgreSQL server, for creating databases."""
    engine = sa.create_engine(psycopg_url(POSTGRES_SERVER_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        engine.dispose()
        message = f"PostgreSQL at {POSTGRES_SERVER_URL} is unreachable ({type(error).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgresql_engine(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Engine]:
    url = create_database(postgres_admin, "test")
    engine = migrated_engine(url, keyring)
    yield engine
    engine.dispose()
    drop_database(postgres_admin, url)


@pytest.fixture(scope="session")
def sqlite_engine(
    tmp_path_factory: pytest.TempPathFactory, keyring: FileKeyring
) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("sqlite") / "portal.db"
    engine = migrated_engine(f"sqlite:///{path}", keyring)
    yield engine
    engine.dispose()


@pytest.fixture
def backend() -> str:
    """PostgreSQL unless a test is parametrised with `both_backends`."""
    return "postgresql"


@pytest.fixture
def engine(request: pytest.FixtureRequest, backend: str) -> Engine:
    selected: Engine = request.getfixturevalue(f"{backend}_engine")
    return selected


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that the test's end rolls back (on SQLite too:
    the portal's engine sends BEGIN IMMEDIATE for `Connection.begin()`, portal/db.py), so every
    session's commit is a savepoint inside it."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def db_session(connection: Connection) -> Iterator[Session]:
    """A session whose commits are savepoints inside the test's transaction."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()


@pytest.fixture
def witness_directory(tmp_path: Path) -> Path:
    """The test's append-only checkpoint store, outside the database as in production (a
    directory of its own: the store needs it to exist already, like a mounted volume)."""
    directory = tmp_path / "audit-witness"
    directory.mkdir()
    return directory


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, witness_directory: Path
) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={
            "signing_key_file": str(audit_key_path),
            "witness_directory": str(witness_directory),
            "log_origin": TEST_LOG_ORIGIN,
        },
    )


@pytest.fixture
def app(settings: Settings, connection: Connection) -> Iterator[Flask]:
    """The real app, its requests bound to the test's transaction."""
    application = create_app(settings, check_database=False)
    database = db.database(application)
    database.sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield application
    database.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackTsa]:
    """A real RFC 3161 TSA on loopback (openssl ts, loopback/tsa.py): `tsa.url` to stamp at,
    `tsa.trust_roots_pem` to check its tokens. Shared by the run: a test that stops a TSA
    starts its own `LoopbackTsa(tmp_path).start()`."""
    running = LoopbackTsa(tmp_path_factory.mktemp("tsa")).start()
    yield running
    running.stop()
