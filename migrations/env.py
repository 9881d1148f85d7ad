"""Alembic environment: runs on the connection `portal.schema` hands it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from portal.models import Base
from portal.models.base import UTCDateTime

# Held while migrating so two deploys never migrate the same PostgreSQL database at once.
MIGRATION_LOCK_ID = 7_200_001
# The role the web and worker processes use on PostgreSQL (see the README: owner and app roles).
# Its login users are made by the database administrator: CREATE USER … IN ROLE portal_app.
APP_ROLE = "portal_app"
# The application may add to these, never change or remove: triggers refuse it for everyone,
# and the app role is not even granted UPDATE or DELETE.
APPEND_ONLY_TABLES = (
    "audit_events",
    "audit_checkpoints",
    "audit_leaves",
    "audit_tree_nodes",
    "audit_tree_heads",
    "audit_witness_records",
)

# The sequencer's one-row bookmark: moved forward by the sequencer, never added to or removed
# (a trigger of migration 0013 refuses anything but following the tree forward).
SEQUENCER_STATE = "audit_sequencer_state"

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


def grant_app_role() -> None:
    """(Re)state what the app role may do, after every migration run: read and write business
    tables, only read and append the audit tables, never touch the migration history."""
    if connection is None:
        raise RuntimeError("no connection")
    tables = set(sa.inspect(connection).get_table_names())
    # A constant name, not input; two databases migrating at once may race to create it.
    create_role = (
        f"DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; "  # noqa: S608
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    connection.execute(sa.text(create_role))
    connection.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}"))
    for table in sorted(tables):
        connection.execute(sa.text(f'REVOKE ALL ON TABLE "{table}" FROM {APP_ROLE}'))
        if table == "alembic_version":
            privileges = "SELECT"
        elif table in APPEND_ONLY_TABLES:
            privileges = "SELECT, INSERT"
        elif table == SEQUENCER_STATE:
            privileges = "SELECT, UPDATE"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        connection.execute(sa.text(f'GRANT {privileges} ON TABLE "{table}" TO {APP_ROLE}'))
    connection.execute(
        sa.text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    )


with context.begin_transaction():
    context.run_migrations()
    if connection.dialect.name == "postgresql":
        grant_app_role()
