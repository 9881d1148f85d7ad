"""the right child: each child's NHS number and UPN (sealed, as the CMS holds them), which
identifiers the CMS holds that fail their check, whether the CMS still lists the child, one child
per CMS person id on a case, the partner's confirmation of each child a request names, and the
request closed because the partner knows none of them

Revision: 0009
Revises: 0008
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

STATUSES = (
    "issued",
    "in_progress",
    "submitted",
    "returned",
    "accepted",
    "delivered",
    "rejected",
    "revoked",
    "expired",
)
NOTIFICATION_KINDS = (
    "request_issued",
    "request_due_soon",
    "request_overdue",
    "contribution_returned",
    "contribution_accepted",
    "contribution_submitted",
)
# The new request status, and the new e-mail telling the social worker about it.
NOT_KNOWN = "child_not_known"
PERSON_ON_CASE = "uq_children_case_id_cms_person_id"


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    _add_child_columns()
    _create_child_confirmations()
    _allow("delegation_requests", "status", "requeststatus", STATUSES, (*STATUSES, NOT_KNOWN))
    _allow(
        "notifications",
        "kind",
        "notificationkind",
        NOTIFICATION_KINDS,
        (*NOTIFICATION_KINDS, NOT_KNOWN),
    )


def _add_child_columns() -> None:
    """The identifiers (sealed), the codes of those that failed their check, when the CMS
    stopped listing the child, and one child per CMS person id on a case."""
    # Nullable or defaulted columns: SQLite adds them in place, without rebuilding the table.
    op.add_column("children", sa.Column("nhs_number_enc", sa.LargeBinary(), nullable=True))
    op.add_column("children", sa.Column("upn_enc", sa.LargeBinary(), nullable=True))
    op.add_column(
        "children",
        sa.Column("invalid_identifiers", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.add_column("children", sa.Column("delisted_at", sa.DateTime(timezone=True), nullable=True))
    _one_child_per_person_id()
    listed = sa.text("cms_person_id IS NOT NULL")
    op.create_index(
        PERSON_ON_CASE,
        "children",
        ["case_id", "cms_person_id"],
        unique=True,
        postgresql_where=listed,
        sqlite_where=listed,
    )


def _one_child_per_person_id() -> None:
    """Before 0009 a CMS answer naming one person twice on a case made two children with the
    same person id. The first in the family's order keeps it; each other one loses it and is
    marked no longer listed, so that nothing is ever filed on it under a person id the CMS
    cannot tell apart (its requests' deliveries stop and say so; a lookup links it again only
    by the lookup's own rule)."""
    op.execute(
        sa.text(
            "UPDATE children SET cms_person_id = NULL, delisted_at = :now"
            " WHERE cms_person_id IS NOT NULL AND EXISTS ("
            " SELECT 1 FROM children AS earlier WHERE earlier.case_id = children.case_id"
            " AND earlier.cms_person_id = children.cms_person_id"
            " AND earlier.position < children.position)"
        ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)))
    )


def _create_child_confirmations() -> None:
    op.create_table(
        "child_confirmations",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.Column(
            "answer",
            sa.Enum(
                "known",
                "not_known",
                "not_this_child",
                name="childknown",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "matched_on",
            sa.Enum(
                "upn",
                "nhs_number",
                "name_and_date_of_birth",
                name="matchedon",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("confirmed_by_id", sa.Uuid(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(answer = 'known') = (matched_on IS NOT NULL)",
            name=op.f("ck_child_confirmations_matched_only_when_known"),
        ),
        sa.ForeignKeyConstraint(
            ["child_id"], ["children.id"], name=op.f("fk_child_confirmations_child_id_children")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"],
            ["users.id"],
            name=op.f("fk_child_confirmations_confirmed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_child_confirmations_request_id_delegation_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "child_id", name=op.f("pk_child_confirmations")),
    )


def downgrade() -> None:
    # A request the partner closed this way is revoked, the nearest status before this one:
    # closed before a decision, nothing shared.
    op.execute(
        sa.text(
            "UPDATE delegation_requests SET status = 'revoked' WHERE status = :status"
        ).bindparams(status=NOT_KNOWN)
    )
    # Its e-mails go: 0008 has no such kind.
    op.execute(sa.text("DELETE FROM notifications WHERE kind = :kind").bindparams(kind=NOT_KNOWN))
    _allow(
        "notifications",
        "kind",
        "notificationkind",
        (*NOTIFICATION_KINDS, NOT_KNOWN),
        NOTIFICATION_KINDS,
    )
    _allow("delegation_requests", "status", "requeststatus", (*STATUSES, NOT_KNOWN), STATUSES)
    op.drop_table("child_confirmations")
    op.drop_index(PERSON_ON_CASE, table_name="children")
    op.drop_column("children", "delisted_at")
    op.drop_column("children", "invalid_identifiers")
    op.drop_column("children", "upn_enc")
    op.drop_column("children", "nhs_number_enc")


def _allow(
    table: str, column: str, name: str, before: tuple[str, ...], after: tuple[str, ...]
) -> None:
    """Change which values an enum column's CHECK constraint allows. SQLite rebuilds the table
    for it (with foreign keys off, as portal.schema runs every SQLite migration)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column(
                column,
                type_=_enum(name, after),
                existing_type=_enum(name, before),
                existing_nullable=False,
            )
        return
    check = op.f(f"ck_{table}_{name}")
    op.drop_constraint(check, table, type_="check")
    listed = ", ".join(f"'{value}'" for value in after)
    op.create_check_constraint(check, table, f"{column} IN ({listed})")
