"""Organisations, their teams and their identity providers."""

from __future__ import annotations

import enum
import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, HasId, HasTimestamps, Sealed, enum_type


class OrganisationKind(enum.StrEnum):
    COUNCIL = "council"
    SCHOOL = "school"
    POLICE = "police"
    HEALTH = "health"
    OTHER = "other"


class OrganisationStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Organisation(HasId, HasTimestamps, Base):
    __tablename__ = "organisations"

    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[OrganisationKind] = mapped_column(enum_type(OrganisationKind))
    status: Mapped[OrganisationStatus] = mapped_column(
        enum_type(OrganisationStatus), default=OrganisationStatus.ACTIVE
    )
    # The information-sharing agreement under which the council shares with this partner.
    sharing_agreement_reference: Mapped[str | None] = mapped_column(sa.String(100))
    sharing_agreement_expires_on: Mapped[date | None]

    teams: Mapped[list[Team]] = relationship(back_populates="organisation")
    identity_providers: Mapped[list[IdentityProvider]] = relationship(back_populates="organisation")

    def sharing_agreement_in_force(self, on: date) -> bool:
        expiry = self.sharing_agreement_expires_on
        return self.sharing_agreement_reference is not None and (expiry is None or on <= expiry)


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


class IdentityProvider(Sealed, HasTimestamps, Base):
    """An organisation's OIDC provider. The issuer decides which organisation a person is in."""

    __tablename__ = "identity_providers"

    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    display_name: Mapped[str] = mapped_column(sa.String(200))
    issuer: Mapped[str] = mapped_column(sa.String(500), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(255))
    client_auth_method: Mapped[ClientAuthMethod] = mapped_column(enum_type(ClientAuthMethod))
    client_secret_enc: Mapped[bytes | None]
    scopes: Mapped[str] = mapped_column(sa.String(500), default="openid email profile")
    # Pinned here, never taken from the provider's discovery document.
    signing_algorithms: Mapped[list[str]] = mapped_column(default=lambda: ["RS256"])
    allowed_email_domains: Mapped[list[str]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(default=True)

    organisation: Mapped[Organisation] = relationship(back_populates="identity_providers")
