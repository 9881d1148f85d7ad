"""Organisations, their teams and their identity providers."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, HasId, HasTimestamps, Sealed, enum_type, utcnow


class OrganisationKind(enum.StrEnum):
    COUNCIL = "council"
    SCHOOL = "school"
    POLICE = "police"
    HEALTH = "health"
    OTHER = "other"


class OrganisationStatus(enum.StrEnum):
    """Whether its people may sign in at all: suspension is the emergency stop, apart from
    where the organisation is in the pilot (its stage)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class OrganisationStage(enum.StrEnum):
    """Where an organisation is in joining the pilot (docs/onboarding.md). Only a live one
    receives new requests; a paused one keeps what it has; one that has left keeps nothing."""

    PROPOSED = "proposed"
    ONBOARDING = "onboarding"
    LIVE = "live"
    PAUSED = "paused"
    LEFT = "left"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Organisation(HasId, HasTimestamps, Base):
    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(enum_type(OrganisationKind))
    status: Mapped[OrganisationStatus] = mapped_column(
        enum_type(OrganisationStatus), default=OrganisationStatus.ACTIVE
    )
    # Proposed unless whoever makes it says otherwise: nothing is sent to an organisation that
    # has not been taken through onboarding.
    stage: Mapped[OrganisationStage] = mapped_column(
        enum_type(OrganisationStage), default=OrganisationStage.PROPOSED
    )
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The e-mail domains its people's addresses are at (widening them needs a second person).
    email_domains: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    # The smallest number of days' warning already sent before the current agreement's review
    # date (portal onboarding remind), so that each warning goes once.
    agreement_warned_days: Mapped[int | None]
    # Whether someone this organisation's provider vouches for (at an allowed e-mail domain)
    # gets an account at first sign-in; otherwise they wait for a partner lead's approval.
    self_provisioning: Mapped[bool] = mapped_column(default=False)

    teams: Mapped[list[Team]] = relationship(back_populates="organisation")
    identity_providers: Mapped[list[IdentityProvider]] = relationship(back_populates="organisation")

    @property
    def in_service(self) -> bool:
        """Its people may sign in and be e-mailed about requests: neither suspended (nor
        otherwise not active) nor left (portal/auth/login.py, the e-mail sender)."""
        return self.status == OrganisationStatus.ACTIVE and self.stage != OrganisationStage.LEFT


class Team(HasId, Base):
    __tablename__ = "teams"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "name"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))

    organisation: Mapped[Organisation] = relationship(back_populates="teams")


class ClientAuthMethod(enum.StrEnum):
    # Names of OAuth client authentication methods, not secrets.
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105
    PRIVATE_KEY_JWT = "private_key_jwt"


def default_claim_mapping() -> dict[str, Any]:
    return {"email": "email", "name": "name", "groups": "groups"}


class IdentityProvider(Sealed, HasTimestamps, Base):
    """An organisation's OIDC provider. The issuer decides which organisation a person is in."""

    __tablename__ = "identity_providers"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    # Names the provider's own callback URL, /sign-in/callback/<slug>: a code from one
    # provider can never be played into a sign-in started with another (mix-up).
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    # Unique unless entries pin distinct tenants or hosted domains (see the registry).
    issuer: Mapped[str] = mapped_column(sa.String(500), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(255))
    client_auth_method: Mapped[ClientAuthMethod] = mapped_column(enum_type(ClientAuthMethod))
    client_secret_enc: Mapped[bytes | None]
    # private_key_jwt: the portal's own signing key for this provider (a private JWK, sealed)
    # and its public half, published at /.well-known/jwks.json.
    client_key_enc: Mapped[bytes | None]
    client_public_jwk: Mapped[dict[str, Any] | None]
    scopes: Mapped[str] = mapped_column(sa.String(500), default="openid email profile")
    # Pinned here, never taken from the provider's discovery document.
    signing_algorithms: Mapped[list[str]] = mapped_column(default=lambda: ["RS256"])
    # Which claims carry e-mail, display name and groups.
    claim_mapping: Mapped[dict[str, Any]] = mapped_column(default=default_claim_mapping)
    # Group claim value -> role name, for roles the provider decides; empty: roles are local.
    group_roles: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed_email_domains: Mapped[list[str]] = mapped_column(default=list)
    # Microsoft Entra: the tenant ids (`tid`) allowed. Google Workspace: the `hd` domains.
    allowed_tenants: Mapped[list[str]] = mapped_column(default=list)
    allowed_hosted_domains: Mapped[list[str]] = mapped_column(default=list)
    # MFA: `acr` must be one of these (e.g. NHS CIS2 AAL2/AAL3), and/or `amr` must name a
    # strong method.
    required_acr_values: Mapped[list[str]] = mapped_column(default=list)
    require_strong_amr: Mapped[bool] = mapped_column(default=False)
    enabled: Mapped[bool] = mapped_column(default=True)
    # When the last change that widened who it lets in took effect (approved by a second
    # person): people who first sign in within 30 days of it wait for approval.
    trusted_since: Mapped[datetime] = mapped_column(default=utcnow)
    # The first sign-in through it that succeeded since then: the onboarding checklist's test.
    tested_at: Mapped[datetime | None]
    tested_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))

    organisation: Mapped[Organisation] = relationship(back_populates="identity_providers")
