"""key rotation and retention: data keys only under registered key versions (a trigger),
legal holds, and when a request's content was shredded

Revision: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# Raised by the trigger below: what psycopg and SQLAlchemy report as an IntegrityError.
_UNREGISTERED = "data key under an unregistered key version"


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "litigation",
                "complaint",
                "investigation",
                "subject_access",
                "practice_review",
                name="holdreason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["placed_by_id"], ["users.id"], name=op.f("fk_legal_holds_placed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_legal_holds_request_id_delegation_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_legal_holds")),
    )
    # Not batched: SQLite would rebuild data_keys, which every sealed table refers to.
    op.create_index(op.f("ix_data_keys_kek_version"), "data_keys", ["kek_version"], unique=False)
    _require_registered_key_versions()

    with op.batch_alter_table("delegation_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_shredded_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_delegation_requests_status_content_shredded_at"),
            ["status", "content_shredded_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("legal_holds")
    # Not batched: SQLite would rebuild delegation_requests, and with foreign keys on, dropping
    # the old table fails while contributions refer to it. SQLite 3.35 and later drop a column
    # in place (ALTER TABLE ... DROP COLUMN), once no index names it.
    op.drop_index(
        op.f("ix_delegation_requests_status_content_shredded_at"),
        table_name="delegation_requests",
    )
    op.drop_column("delegation_requests", "content_shredded_at")

    _drop_registered_key_versions()
    op.drop_index(op.f("ix_data_keys_kek_version"), table_name="data_keys")


def _require_registered_key_versions() -> None:
    """A data key may be written or rewrapped only under a version with a key check.

    Like a foreign key to key_checks, which SQLite could only add by rebuilding data_keys (and
    a foreign key would also pin shredded keys to their version). On PostgreSQL the check
    takes a KEY SHARE lock on the version's key check, so `portal keys retire` deleting it
    waits for a concurrent writer and then sees its key; after the deletion nobody can write
    under that version again, even a process that still holds the retired key.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION data_keys_registered_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM 1 FROM key_checks WHERE kek_version = NEW.kek_version FOR KEY SHARE;
                IF NOT FOUND THEN
                    RAISE EXCEPTION '{_UNREGISTERED} (%)', NEW.kek_version
                        USING ERRCODE = 'foreign_key_violation';
                END IF;
                RETURN NEW;
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER data_keys_registered_version "
            "BEFORE INSERT OR UPDATE OF kek_version ON data_keys "
            "FOR EACH ROW EXECUTE FUNCTION data_keys_registered_version()"
        )
        return
    unregistered = "NOT EXISTS (SELECT 1 FROM key_checks WHERE kek_version = NEW.kek_version)"
    for operation in ("INSERT", "UPDATE OF kek_version"):
        name = f"data_keys_registered_version_{operation.split()[0].lower()}"
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {operation} ON data_keys WHEN {unregistered} "
            f"BEGIN SELECT RAISE(ABORT, '{_UNREGISTERED}'); END"
        )


def _drop_registered_key_versions() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS data_keys_registered_version ON data_keys")
        op.execute("DROP FUNCTION IF EXISTS data_keys_registered_version()")
        return
    for name in ("insert", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS data_keys_registered_version_{name}")
