"""Migrations build an empty PostgreSQL and SQLite database, and agree with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from portal import db, schema
from portal.models import Base
from tests.conftest import BACKENDS, create_database, drop_database


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    admin = request.getfixturevalue("postgres_admin")
    url = create_database(admin, "migrate")
    engine = db.make_engine(url)
    yield engine
    engine.dispose()
    drop_database(admin, url)


def test_upgrade_from_empty_builds_every_table(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)

    tables = set(sa.inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_engine.connect() as connection:
        assert schema.current_revision(connection) == schema.head_revision()


def test_models_and_migrations_agree(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)

    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"models and migrations differ: {differences}"


def test_downgrade_to_nothing_and_back(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)
    schema.downgrade(empty_engine, "base")
    assert set(sa.inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    schema.upgrade(empty_engine)
    assert set(Base.metadata.tables) <= set(sa.inspect(empty_engine).get_table_names())


def test_migrations_have_one_head_recorded_in_the_head_file() -> None:
    # Two migrations written in parallel branches must be merged before they land.
    heads = ScriptDirectory.from_config(schema.alembic_config()).get_heads()
    assert len(heads) == 1
    assert schema.HEAD_FILE.read_text(encoding="utf-8").strip() == heads[0]


def test_migration_files_are_numbered_in_order() -> None:
    script = ScriptDirectory.from_config(schema.alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    numbers = [int(revision.revision) for revision in revisions]
    assert numbers == list(range(1, len(numbers) + 1))
    for revision in revisions:
        assert Path(revision.path).name.startswith(f"{revision.revision}_")
