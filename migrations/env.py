"""Alembic environment: runs on the connection `portal.schema` hands it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from portal.models import Base
from portal.models.base import UTCDateTime

# Held while migrating so two deploys never migrate the same PostgreSQL database at once.
MIGRATION_LOCK_ID = 7_200_001

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `portal db upgrade`, which supplies the connection")


def render_item(kind: str, obj: object, _autogen_context: object) -> str | bool:
    """Write the app's column types as plain SQLAlchemy ones: migrations never import the app."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    render_item=render_item,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transaction_per_migration=False,
)

if connection.dialect.name == "postgresql":
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})

with context.begin_transaction():
    context.run_migrations()
