"""documents that are safe to open: each attachment's disarmed safe copy (its status, type,
size, digest and pages, why it could not be made, and the disarm worker's claim on it)

Every attachment already held becomes "being made safe": the disarm worker makes its safe copy
(one whose data key was shredded by retention is marked "could not be made safe" by the worker).

Revision: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SAFE_STATUSES = ("pending", "ready", "failed")


def upgrade() -> None:
    # Nullable or defaulted columns: SQLite adds them in place, without rebuilding the table.
    op.add_column(
        "attachments",
        sa.Column(
            "safe_status",
            sa.Enum(
                *SAFE_STATUSES,
                name="safecopystatus",
                native_enum=False,
                create_constraint=False,
                length=32,
            ),
            nullable=False,
            server_default="pending",
        ),
    )
    op.add_column("attachments", sa.Column("safe_content_type", sa.String(100), nullable=True))
    op.add_column("attachments", sa.Column("safe_size_bytes", sa.BigInteger(), nullable=True))
    op.add_column("attachments", sa.Column("safe_sha256", sa.LargeBinary(32), nullable=True))
    op.add_column("attachments", sa.Column("safe_pages", sa.Integer(), nullable=True))
    op.add_column("attachments", sa.Column("safe_failure", sa.String(40), nullable=True))
    op.add_column(
        "attachments",
        sa.Column("safe_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("attachments", sa.Column("safe_claimed_by", sa.String(200), nullable=True))
    op.add_column(
        "attachments",
        sa.Column("safe_claimed_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "attachments", sa.Column("safe_made_at", sa.DateTime(timezone=True), nullable=True)
    )
    with op.batch_alter_table("attachments") as batch:
        batch.create_check_constraint(
            "safecopystatus",
            sa.text("safe_status IN ('pending', 'ready', 'failed')"),
        )
    op.create_index(op.f("ix_attachments_safe_status"), "attachments", ["safe_status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_attachments_safe_status"), table_name="attachments")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_constraint("safecopystatus", type_="check")
        for column in (
            "safe_made_at",
            "safe_claimed_until",
            "safe_claimed_by",
            "safe_attempts",
            "safe_failure",
            "safe_pages",
            "safe_sha256",
            "safe_size_bytes",
            "safe_content_type",
            "safe_status",
        ):
            batch.drop_column(column)
