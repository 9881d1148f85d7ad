"""Running Alembic migrations: a deploy step (`portal db upgrade`), never done at start-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
HEAD_FILE = MIGRATIONS_DIR / ".current-alembic-head"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads; merge them into one")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction for the whole run. On SQLite, foreign keys are off while it runs (a
    changed constraint rebuilds the table, and dropping the old one must not cascade into the
    rows that refer to it) and checked before it commits, as SQLite's own procedure for
    altering a table says; they can only be switched outside a transaction."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _pragma(connection, "PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migrating left broken references: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys = ON")


def _pragma(connection: Connection, statement: str) -> None:
    # On the driver's own connection, so that SQLAlchemy does not begin a transaction first.
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def new_revision(engine: Engine, message: str) -> None:
    """Autogenerate the next numbered migration from the models (for developers)."""
    with engine.begin() as connection:
        number = int(head_revision()) + 1
        command.revision(
            alembic_config(connection),
            message=message,
            autogenerate=True,
            rev_id=f"{number:04d}",
        )
