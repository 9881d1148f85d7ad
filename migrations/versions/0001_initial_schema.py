"""initial schema

Revision: 0001
Revises: (none: the first migration)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("actor_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("case_reference", sa.String(length=64), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "success",
                "failure",
                "denied",
                name="auditoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(
        op.f("ix_audit_events_actor_user_id_seq"),
        "audit_events",
        ["actor_user_id", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_events_case_reference_seq"),
        "audit_events",
        ["case_reference", "seq"],
        unique=False,
    )
    op.create_index(
        op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"], unique=False
    )
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kek_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shredded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "key_checks",
        sa.Column("kek_version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("wrapped_probe", sa.LargeBinary(), nullable=False),
        sa.Column("probe_digest", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kek_version", name=op.f("pk_key_checks")),
    )
    op.create_table(
        "organisations",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "council",
                "school",
                "police",
                "health",
                "other",
                name="organisationkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "suspended",
                name="organisationstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sharing_agreement_reference", sa.String(length=100), nullable=True),
        sa.Column("sharing_agreement_expires_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")),
    )
    op.create_table(
        "identity_providers",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column(
            "client_auth_method",
            sa.Enum(
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                name="clientauthmethod",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("client_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("signing_algorithms", sa.JSON(), nullable=False),
        sa.Column("allowed_email_domains", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_identity_providers_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_identity_providers_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_providers")),
        sa.UniqueConstraint("issuer", name=op.f("uq_identity_providers_issuer")),
    )
    op.create_index(
        op.f("ix_identity_providers_data_key_id"),
        "identity_providers",
        ["data_key_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_identity_providers_organisation_id"),
        "identity_providers",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "teams",
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_teams_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("organisation_id", "name", name=op.f("uq_teams_organisation_id_name")),
    )
    op.create_table(
        "users",
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "active",
                "suspended",
                name="userstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_users_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("issuer", "subject", name=op.f("uq_users_issuer_subject")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_users_team_id"), "users", ["team_id"], unique=False)
    op.create_table(
        "cases",
        sa.Column("cms_reference", sa.String(length=64), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("allocated_worker_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocated_worker_id"], ["users.id"], name=op.f("fk_cases_allocated_worker_id_users")
        ),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_cases_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("cms_reference", name=op.f("uq_cases_cms_reference")),
    )
    op.create_index(
        op.f("ix_cases_allocated_worker_id"), "cases", ["allocated_worker_id"], unique=False
    )
    op.create_index(op.f("ix_cases_team_id"), "cases", ["team_id"], unique=False)
    op.create_table(
        "role_assignments",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "partner_contributor",
                "partner_lead",
                "social_worker",
                "team_manager",
                "ig_officer",
                "portal_admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by_id"], ["users.id"], name=op.f("fk_role_assignments_granted_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_role_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_role_assignments")),
    )
    op.create_table(
        "children",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("cms_person_id", sa.String(length=64), nullable=True),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("date_of_birth_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_children_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_children_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_children")),
        sa.UniqueConstraint("case_id", "position", name=op.f("uq_children_case_id_position")),
    )
    op.create_index(op.f("ix_children_case_id"), "children", ["case_id"], unique=False)
    op.create_index(op.f("ix_children_data_key_id"), "children", ["data_key_id"], unique=False)
    op.create_table(
        "delegation_requests",
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("partner_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("named_recipient_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("form_template", sa.String(length=100), nullable=False),
        sa.Column("form_template_version", sa.Integer(), nullable=False),
        sa.Column("lawful_basis", sa.String(length=100), nullable=False),
        sa.Column("purpose_enc", sa.LargeBinary(), nullable=False),
        sa.Column("message_enc", sa.LargeBinary(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "issued",
                "in_progress",
                "submitted",
                "returned",
                "accepted",
                "delivered",
                "rejected",
                "revoked",
                "expired",
                name="requeststatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closing_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_delegation_requests_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_delegation_requests_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["named_recipient_id"],
            ["users.id"],
            name=op.f("fk_delegation_requests_named_recipient_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_delegation_requests_partner_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_delegation_requests_requested_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation_requests")),
        sa.UniqueConstraint("reference", name=op.f("uq_delegation_requests_reference")),
    )
    op.create_index(
        op.f("ix_delegation_requests_case_id"), "delegation_requests", ["case_id"], unique=False
    )
    op.create_index(
        op.f("ix_delegation_requests_data_key_id"),
        "delegation_requests",
        ["data_key_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delegation_requests_named_recipient_id"),
        "delegation_requests",
        ["named_recipient_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delegation_requests_partner_organisation_id_status"),
        "delegation_requests",
        ["partner_organisation_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_delegation_requests_requested_by_id"),
        "delegation_requests",
        ["requested_by_id"],
        unique=False,
    )
    op.create_table(
        "contributions",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "returned",
                "accepted",
                "rejected",
                "delivered",
                "discarded",
                name="contributionstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("answers_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("submitted_by_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cms_record_id", sa.String(length=100), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_contributions_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_contributions_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_contributions_request_id_delegation_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"], ["users.id"], name=op.f("fk_contributions_submitted_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
        sa.UniqueConstraint(
            "request_id", "version", name=op.f("uq_contributions_request_id_version")
        ),
    )
    op.create_index(
        op.f("ix_contributions_data_key_id"), "contributions", ["data_key_id"], unique=False
    )
    op.create_table(
        "request_children",
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("child_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"], ["children.id"], name=op.f("fk_request_children_child_id_children")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["delegation_requests.id"],
            name=op.f("fk_request_children_request_id_delegation_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "child_id", name=op.f("pk_request_children")),
    )
    op.create_table(
        "attachments",
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("filename_enc", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "scan_status",
            sa.Enum(
                "pending",
                "clean",
                "refused",
                name="scanstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_attachments_contribution_id_contributions"),
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_attachments_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_attachments_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(
        op.f("ix_attachments_contribution_id"), "attachments", ["contribution_id"], unique=False
    )
    op.create_index(
        op.f("ix_attachments_data_key_id"), "attachments", ["data_key_id"], unique=False
    )
    op.create_table(
        "outbox",
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "dead_lettered",
                "cancelled",
                name="outboxstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cms_record_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_outbox_contribution_id_contributions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("contribution_id", name=op.f("uq_outbox_contribution_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index(
        op.f("ix_outbox_status_next_attempt_at"),
        "outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "reviews",
        sa.Column("contribution_id", sa.Uuid(), nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "accepted",
                "returned",
                "rejected",
                name="reviewdecision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("sections_to_revisit", sa.JSON(), nullable=False),
        sa.Column("new_due_on", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_key_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_reviews_contribution_id_contributions"),
        ),
        sa.ForeignKeyConstraint(
            ["data_key_id"],
            ["data_keys.id"],
            name=op.f("fk_reviews_data_key_id_data_keys"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["users.id"], name=op.f("fk_reviews_reviewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("contribution_id", name=op.f("uq_reviews_contribution_id")),
    )
    op.create_index(op.f("ix_reviews_data_key_id"), "reviews", ["data_key_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reviews_data_key_id"), table_name="reviews")
    op.drop_table("reviews")
    op.drop_index(op.f("ix_outbox_status_next_attempt_at"), table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_attachments_data_key_id"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_contribution_id"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_table("request_children")
    op.drop_index(op.f("ix_contributions_data_key_id"), table_name="contributions")
    op.drop_table("contributions")
    op.drop_index(op.f("ix_delegation_requests_requested_by_id"), table_name="delegation_requests")
    op.drop_index(
        op.f("ix_delegation_requests_partner_organisation_id_status"),
        table_name="delegation_requests",
    )
    op.drop_index(
        op.f("ix_delegation_requests_named_recipient_id"), table_name="delegation_requests"
    )
    op.drop_index(op.f("ix_delegation_requests_data_key_id"), table_name="delegation_requests")
    op.drop_index(op.f("ix_delegation_requests_case_id"), table_name="delegation_requests")
    op.drop_table("delegation_requests")
    op.drop_index(op.f("ix_children_data_key_id"), table_name="children")
    op.drop_index(op.f("ix_children_case_id"), table_name="children")
    op.drop_table("children")
    op.drop_table("role_assignments")
    op.drop_index(op.f("ix_cases_team_id"), table_name="cases")
    op.drop_index(op.f("ix_cases_allocated_worker_id"), table_name="cases")
    op.drop_table("cases")
    op.drop_index(op.f("ix_users_team_id"), table_name="users")
    op.drop_index(op.f("ix_users_organisation_id"), table_name="users")
    op.drop_table("users")
    op.drop_table("teams")
    op.drop_index(op.f("ix_identity_providers_organisation_id"), table_name="identity_providers")
    op.drop_index(op.f("ix_identity_providers_data_key_id"), table_name="identity_providers")
    op.drop_table("identity_providers")
    op.drop_table("organisations")
    op.drop_table("key_checks")
    op.drop_table("data_keys")
    op.drop_index(op.f("ix_audit_events_occurred_at"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_case_reference_seq"), table_name="audit_events")
    op.drop_index(op.f("ix_audit_events_actor_user_id_seq"), table_name="audit_events")
    op.drop_table("audit_events")
