"""back-channel logout tokens remembered until they expire: the same token (its jti) sent
again within its lifetime is refused by every web process (portal/auth/back_channel.py)

A new, empty table: existing databases upgrade without touching any other.

Revision: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logout_token_uses",
        sa.Column("identity_provider_id", sa.Uuid(), nullable=False),
        sa.Column("jti_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_provider_id"],
            ["identity_providers.id"],
            name=op.f("fk_logout_token_uses_identity_provider_id_identity_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "identity_provider_id", "jti_sha256", name=op.f("pk_logout_token_uses")
        ),
    )
    with op.batch_alter_table("logout_token_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logout_token_uses_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("logout_token_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logout_token_uses_expires_at"))
    op.drop_table("logout_token_uses")
