"""Onboarding an organisation into the pilot: its information-sharing agreements, the checklist
items recorded by hand, and the changes that widen who can act for it, which take effect only
when a second person approves them (docs/onboarding.md)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, HasId, Sealed, enum_type, utcnow
from portal.models.organisations import Organisation
from portal.models.users import User


class SharingAgreement(HasId, Base):
    """One version of the information-sharing agreement with a partner, as recorded. The
    newest recorded is the one in force until its review date; older ones are its history."""

    __tablename__ = "sharing_agreements"
    __table_args__ = (sa.Index(None, "organisation_id", "recorded_at"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    version: Mapped[str] = mapped_column(sa.String(40))
    signed_on: Mapped[date | None]  # None only for agreements carried over by migration 0011
    # The signatories' roles (never their names), e.g. "Headteacher; Director of Children's
    # Services".
    signatory_roles: Mapped[str] = mapped_column(sa.String(500))
    review_on: Mapped[date]
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    recorded_by: Mapped[User | None] = relationship()


class ChecklistItem(enum.StrEnum):
    """Checklist items recorded by hand. The agreement, the partner lead, the identity provider
    and its test sign-in are read from their own records."""

    DPIA = "dpia"  # value: the data protection impact assessment's reference
    MFA_DECISION = "mfa_decision"  # value: "required" or "not_required" (reason: why not)


class ChecklistRecord(Base):
    """The current answer to one checklist item; its history is on the audit trail."""

    __tablename__ = "checklist_records"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), primary_key=True
    )
    item: Mapped[ChecklistItem] = mapped_column(enum_type(ChecklistItem), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by: Mapped[User] = relationship()


class ChangeKind(enum.StrEnum):
    """Changes that widen who can act for a partner: each needs a second person."""

    IDENTITY_PROVIDER = "identity_provider"  # a new provider, or a change that widens one
    SELF_PROVISIONING = "self_provisioning"  # turned on
    EMAIL_DOMAINS = "email_domains"  # a domain added
    PARTNER_LEAD = "partner_lead"  # a person made the organisation's partner lead


class ChangeStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"  # approved and applied, in one transaction
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"  # by the person who proposed it
    # What it would change was changed another way first: it must be proposed again.
    SUPERSEDED = "superseded"


class OrganisationChange(Sealed, Base):
    """A proposed change that widens who can act for a partner, waiting for (or decided by) a
    second person: the organisation's partner lead or an IG officer, never its proposer."""

    __tablename__ = "organisation_changes"
    __table_args__ = (sa.Index(None, "organisation_id", "status"), sa.Index(None, "status"))

    organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    kind: Mapped[ChangeKind] = mapped_column(enum_type(ChangeKind))
    status: Mapped[ChangeStatus] = mapped_column(
        enum_type(ChangeStatus), default=ChangeStatus.PENDING
    )
    # What the change makes true, with no secret in it: a provider's settings (ProviderSpec's
    # JSON), {"domains": [...]}, {"self_provisioning": true} or {"user_id": "..."}.
    proposal: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A provider's new client secret, sealed under the change's own data key until applied.
    client_secret_enc: Mapped[bytes | None]
    # A digest of what the change replaces, as it was when proposed: if that has changed by
    # the time of approval, the change is superseded rather than applied over it.
    based_on: Mapped[str] = mapped_column(sa.String(64))
    proposed_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    # Why it was refused, in the decider's words (about the organisation's set-up, never a
    # child: the page says so).
    refusal_reason: Mapped[str | None] = mapped_column(sa.String(500))

    organisation: Mapped[Organisation] = relationship()
    proposed_by: Mapped[User] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
