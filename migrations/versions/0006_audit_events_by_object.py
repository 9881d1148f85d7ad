"""audit events found by the object they are about: the partner's request page asks when the
council first read each version (portal/requests/partner.py), which without this index walks
every event of that action (240 ms at 1M events, growing with the trail)

Migrations run in one transaction (migrations/env.py), so the index is built inside it and
appends to the trail wait for the build, which grows with the trail.

Revision: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "ix_audit_events_object_id_action"


def upgrade() -> None:
    op.create_index(INDEX, "audit_events", ["object_id", "action"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="audit_events")
