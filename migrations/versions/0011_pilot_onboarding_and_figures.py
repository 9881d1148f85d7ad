"""running the pilot: each organisation's stage in it (proposed, onboarding, live, paused, left),
its e-mail domains, its information-sharing agreements as a history, its checklist records, the
changes that widen who can act for it waiting for a second person, each identity provider's
approval time and test sign-in, the partner engagement officer's role, the first opening of
each request, requests answered outside the portal, and partners' feedback

Every organisation already there is live, with its providers' e-mail domains and its agreement
carried over (an agreement with no expiry gets a review date a year from the upgrade, so that
someone reviews it). Each provider is trusted since it was added and tested by the first person
who signed in through it; each request was first opened when the trail first shows someone at
its partner reading it.

Revision: 0011
Revises: 0010
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ROLES = (
    "partner_contributor",
    "partner_lead",
    "social_worker",
    "team_manager",
    "ig_officer",
    "portal_admin",
)
OFFICER = "partner_engagement_officer"
NOTIFICATION_KINDS = (
    "request_issued",
    "request_due_soon",
    "request_overdue",
    "contribution_returned",
    "contribution_accepted",
    "contribution_submitted",
    "child_not_known",
)
NEW_NOTIFICATION_KINDS = ("agreement_review_due", "change_awaiting_approval")
STAGES = ("proposed", "onboarding", "live", "paused", "left")


def _enum(name: str, values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _when(name: str, nullable: bool = False, **kwargs: object) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    _organisation_stages()
    _sharing_agreements()
    _checklist_and_changes()
    _providers_trusted_and_tested()
    _allow("role_assignments", "role", "role", ROLES, (*ROLES, OFFICER))
    _allow(
        "notifications",
        "kind",
        "notificationkind",
        NOTIFICATION_KINDS,
        (*NOTIFICATION_KINDS, *NEW_NOTIFICATION_KINDS),
    )
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("organisation_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_notifications_organisation_id_organisations"),
            "organisations",
            ["organisation_id"],
            ["id"],
        )
    _pilot_records()


def _organisation_stages() -> None:
    unchecked = sa.Enum(
        *STAGES, name="organisationstage", native_enum=False, create_constraint=False, length=32
    )
    op.add_column(
        "organisations", sa.Column("stage", unchecked, nullable=False, server_default="live")
    )
    with op.batch_alter_table("organisations") as batch:
        batch.create_check_constraint(
            "organisationstage",
            sa.text("stage IN ('proposed', 'onboarding', 'live', 'paused', 'left')"),
        )
    _add_timestamp("organisations", "stage_changed_at", "created_at")
    op.add_column(
        "organisations",
        sa.Column("email_domains", sa.JSON(), nullable=False, server_default="[]"),
    )
    op.add_column("organisations", sa.Column("agreement_warned_days", sa.Integer(), nullable=True))
    # The organisation's domains: every domain its providers allowed.
    connection = op.get_bind()
    domains: dict[object, set[str]] = {}
    for organisation_id, allowed in connection.execute(
        sa.text("SELECT organisation_id, allowed_email_domains FROM identity_providers")
    ):
        listed = json.loads(allowed) if isinstance(allowed, str) else (allowed or [])
        domains.setdefault(organisation_id, set()).update(listed)
    organisations = sa.table(
        "organisations", sa.column("id", sa.Uuid()), sa.column("email_domains", sa.JSON())
    )
    for organisation_id, found in domains.items():
        key = (
            organisation_id
            if isinstance(organisation_id, uuid.UUID)
            else uuid.UUID(str(organisation_id))
        )
        connection.execute(
            organisations.update()
            .where(organisations.c.id == key)
            .values(email_domains=sorted(found))
        )


def _add_timestamp(table: str, column: str, copied_from: str) -> None:
    """A required timestamp, first copied from another (SQLite adds no column whose default
    is not a constant)."""
    op.add_column(table, _when(column, nullable=True))
    op.execute(sa.text(f"UPDATE {table} SET {column} = {copied_from}"))  # noqa: S608 - names
    with op.batch_alter_table(table) as batch:
        batch.alter_column(column, existing_type=sa.DateTime(timezone=True), nullable=False)


def _sharing_agreements() -> None:
    op.create_table(
        "sharing_agreements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("signatory_roles", sa.String(500), nullable=False),
        sa.Column("review_on", sa.Date(), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        _when("recorded_at"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_sharing_agreements_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
            name=op.f("fk_sharing_agreements_recorded_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_agreements")),
    )
    op.create_index(
        op.f("ix_sharing_agreements_organisation_id_recorded_at"),
        "sharing_agreements",
        ["organisation_id", "recorded_at"],
    )
    connection = op.get_bind()
    agreements = sa.table(
        "sharing_agreements",
        sa.column("id", sa.Uuid()),
        sa.column("organisation_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("version", sa.String()),
        sa.column("signatory_roles", sa.String()),
        sa.column("review_on", sa.Date()),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
    )
    organisations = sa.table(
        "organisations",
        sa.column("id", sa.Uuid()),
        sa.column("sharing_agreement_reference", sa.String()),
        sa.column("sharing_agreement_expires_on", sa.Date()),
    )
    carried = connection.execute(
        sa.select(
            organisations.c.id,
            organisations.c.sharing_agreement_reference,
            organisations.c.sharing_agreement_expires_on,
        ).where(organisations.c.sharing_agreement_reference.is_not(None))
    ).all()
    now = datetime.now(UTC)
    a_year_on = date.today() + timedelta(days=365)
    for organisation_id, reference, expires_on in carried:
        connection.execute(
            agreements.insert().values(
                id=uuid.uuid4(),
                organisation_id=organisation_id,
                name=reference,
                version="1",
                signatory_roles="Not recorded (carried over from before onboarding)",
                review_on=expires_on or a_year_on,
                recorded_at=now,
            )
        )
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("sharing_agreement_expires_on")
        batch.drop_column("sharing_agreement_reference")


def _checklist_and_changes() -> None:
    op.create_table(
        "checklist_records",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("item", _enum("checklistitem", ("dpia", "mfa_decision")), nullable=False),
        sa.Column("value", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=False),
        _when("recorded_at"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_checklist_records_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_checklist_records_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("organisation_id", "item", name=op.f("pk_checklist_records")),
    )
    op.create_table(
        "organisation_changes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "changekind",
                ("identity_provider", "self_provisioning", "email_domains", "partner_lead"),
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            _enum("changestatus", ("pending", "approved", "refused", "withdrawn", "superseded")),
            nullable=False,
        ),
        sa.Column("proposal", sa.JSON(), nullable=False),
        sa.Column("client_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("based_on", sa.String(64), nullable=False),
        sa.Column("proposed_by_id", sa.Uuid(), nullable=False),
        _when("proposed_at"),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("refusal_reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_organisation_changes_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_changes_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"],
            ["users.id"],
            name=op.f("fk_organisation_changes_proposed_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_organisation_changes_decided_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_changes")),
    )
    op.create_index(
        op.f("ix_organisation_changes_data_key_id"), "organisation_changes", ["data_key_id"]
    )
    op.create_index(
        op.f("ix_organisation_changes_organisation_id_status"),
        "organisation_changes",
        ["organisation_id", "status"],
    )
    op.create_index(op.f("ix_organisation_changes_status"), "organisation_changes", ["status"])


def _providers_trusted_and_tested() -> None:
    _add_timestamp("identity_providers", "trusted_since", "created_at")
    op.add_column("identity_providers", _when("tested_at", nullable=True))
    with op.batch_alter_table("identity_providers") as batch:
        batch.add_column(sa.Column("tested_by_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_identity_providers_tested_by_id_users"), "users", ["tested_by_id"], ["id"]
        )
    connection = op.get_bind()
    providers = connection.execute(sa.text("SELECT id, issuer FROM identity_providers")).all()
    for provider_id, issuer in providers:
        first = connection.execute(
            sa.text(
                "SELECT id, created_at FROM users WHERE issuer = :issuer "
                "ORDER BY created_at LIMIT 1"
            ),
            {"issuer": issuer},
        ).first()
        if first is None:
            continue
        connection.execute(
            sa.text(
                "UPDATE identity_providers SET tested_at = :at, tested_by_id = :user "
                "WHERE id = :provider"
            ),
            {"at": first[1], "user": first[0], "provider": provider_id},
        )


def _pilot_records() -> None:
    op.create_table(
        "request_openings",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        _when("opened_at"),
        sa.Column("opened_by_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_request_openings_request_id_delegation_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["opened_by_id"], ["users.id"], name=op.f("fk_request_openings_opened_by_id_users")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_openings")),
    )
    # The trail's first read of each request by someone at its partner.
    op.execute(
        """
        INSERT INTO request_openings (request_id, opened_at, opened_by_id)
        SELECT r.id, e.occurred_at, e.actor_user_id
        FROM delegation_requests r
        JOIN audit_events e ON e.seq = (
            SELECT min(first.seq) FROM audit_events first
            WHERE first.action = 'request_viewed'
              AND first.object_type = 'delegation_request'
              AND first.object_id = r.reference
              AND first.actor_organisation_id = r.partner_organisation_id
              AND first.actor_user_id IS NOT NULL
        )
        """
    )
    op.create_table(
        "offline_answers",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column(
            "channel",
            _enum("offlinechannel", ("phone", "email", "meeting", "post", "other")),
            nullable=False,
        ),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=False),
        _when("recorded_at"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_offline_answers_request_id_delegation_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_offline_answers_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_offline_answers")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment_enc", sa.LargeBinary(), nullable=True),
        _when("given_at"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_feedback_rating_in_range")),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_feedback_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_feedback_contribution_id_contributions"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_feedback_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("contribution_id", name=op.f("uq_feedback_contribution_id")),
    )
    op.create_index(op.f("ix_feedback_data_key_id"), "feedback", ["data_key_id"])
    op.create_index(op.f("ix_feedback_organisation_id"), "feedback", ["organisation_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("offline_answers")
    op.drop_table("request_openings")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(
            op.f("fk_notifications_organisation_id_organisations"), type_="foreignkey"
        )
        batch.drop_column("organisation_id")
    op.execute(
        sa.text(
            "DELETE FROM notifications WHERE kind IN ('agreement_review_due', "
            "'change_awaiting_approval')"
        )
    )
    _allow(
        "notifications",
        "kind",
        "notificationkind",
        (*NOTIFICATION_KINDS, *NEW_NOTIFICATION_KINDS),
        NOTIFICATION_KINDS,
    )
    op.execute(sa.text("DELETE FROM role_assignments WHERE role = 'partner_engagement_officer'"))
    _allow("role_assignments", "role", "role", (*ROLES, OFFICER), ROLES)
    with op.batch_alter_table("identity_providers") as batch:
        batch.drop_constraint(op.f("fk_identity_providers_tested_by_id_users"), type_="foreignkey")
        batch.drop_column("tested_by_id")
        batch.drop_column("tested_at")
        batch.drop_column("trusted_since")
    op.drop_table("organisation_changes")
    op.drop_table("checklist_records")
    _agreements_back_onto_organisations()
    op.drop_table("sharing_agreements")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_constraint(op.f("ck_organisations_organisationstage"), type_="check")
        batch.drop_column("agreement_warned_days")
        batch.drop_column("email_domains")
        batch.drop_column("stage_changed_at")
        batch.drop_column("stage")


def _agreements_back_onto_organisations() -> None:
    """Each organisation's newest agreement goes back onto it, as its reference and expiry."""
    op.add_column(
        "organisations", sa.Column("sharing_agreement_reference", sa.String(100), nullable=True)
    )
    op.add_column(
        "organisations", sa.Column("sharing_agreement_expires_on", sa.Date(), nullable=True)
    )
    op.execute(
        """
        UPDATE organisations SET
          sharing_agreement_reference = (
            SELECT a.name FROM sharing_agreements a WHERE a.organisation_id = organisations.id
            ORDER BY a.recorded_at DESC LIMIT 1),
          sharing_agreement_expires_on = (
            SELECT a.review_on FROM sharing_agreements a WHERE a.organisation_id = organisations.id
            ORDER BY a.recorded_at DESC LIMIT 1)
        """
    )


def _allow(
    table: str, column: str, name: str, before: tuple[str, ...], after: tuple[str, ...]
) -> None:
    """Change which values an enum column's CHECK constraint allows (as 0009 does)."""
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
