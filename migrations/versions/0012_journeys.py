"""the journeys people live in: e-mails when a request is withdrawn from under the people at
the partner who had opened it, and when a partner lead passes a request to a colleague

Revision: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NOTIFICATION_KINDS = (
    "request_issued",
    "request_due_soon",
    "request_overdue",
    "contribution_returned",
    "contribution_accepted",
    "contribution_submitted",
    "child_not_known",
    "agreement_review_due",
    "change_awaiting_approval",
)
NEW_NOTIFICATION_KINDS = ("request_withdrawn", "request_passed")


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    _allow(NOTIFICATION_KINDS, (*NOTIFICATION_KINDS, *NEW_NOTIFICATION_KINDS))
    _receipts_name_the_organisation()  # helper A
    _children_found_by_person_id()  # helper D


def downgrade() -> None:
    _children_found_by_person_id_undone()  # helper D
    _receipts_name_nobody()  # helper A
    op.execute(
        sa.text("DELETE FROM notifications WHERE kind IN ('request_withdrawn', 'request_passed')")
    )
    _allow((*NOTIFICATION_KINDS, *NEW_NOTIFICATION_KINDS), NOTIFICATION_KINDS)


def _allow(before: tuple[str, ...], after: tuple[str, ...]) -> None:
    """Change which kinds the notifications table's CHECK constraint allows (as 0011 does)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("notifications", recreate="always") as batch:
            batch.alter_column(
                "kind",
                type_=_enum("notificationkind", after),
                existing_type=_enum("notificationkind", before),
                existing_nullable=False,
            )
        return
    check = op.f("ck_notifications_notificationkind")
    op.drop_constraint(check, "notifications", type_="check")
    listed = ", ".join(f"'{value}'" for value in after)
    op.create_check_constraint(check, "notifications", f"kind IN ({listed})")


# --- helper A (issue 20): receipts that name the organisation (portal-receipt/2) ---
# Which format signed each version, and the organisation's name as signed (docs/receipts.md).


def _receipts_name_the_organisation() -> None:
    with op.batch_alter_table("contributions") as batch:
        batch.add_column(sa.Column("receipt_format", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("receipt_organisation", sa.String(length=200), nullable=True))


def _receipts_name_nobody() -> None:
    with op.batch_alter_table("contributions") as batch:
        batch.drop_column("receipt_organisation")
        batch.drop_column("receipt_format")


# --- end helper A ---


# --- helper D (issue 20): the IG officer's case search finds a child by CMS person id and
# counts the requests naming each child (portal/audit/case_lookup.py) ---


def _children_found_by_person_id() -> None:
    op.create_index(op.f("ix_children_cms_person_id"), "children", ["cms_person_id"])
    op.create_index(op.f("ix_request_children_child_id"), "request_children", ["child_id"])


def _children_found_by_person_id_undone() -> None:
    op.drop_index(op.f("ix_request_children_child_id"), table_name="request_children")
    op.drop_index(op.f("ix_children_cms_person_id"), table_name="children")


# --- end helper D ---
