"""People who sign in: identified by (issuer, subject), never by e-mail address."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, HasId, enum_type, utcnow
from portal.models.organisations import Organisation, Team


class Role(enum.StrEnum):
    PARTNER_CONTRIBUTOR = "partner_contributor"
    PARTNER_LEAD = "partner_lead"
    SOCIAL_WORKER = "social_worker"
    TEAM_MANAGER = "team_manager"
    IG_OFFICER = "ig_officer"
    PORTAL_ADMIN = "portal_admin"
    # Runs the pilot: onboards organisations and reads its figures, never a request's content.
    PARTNER_ENGAGEMENT_OFFICER = "partner_engagement_officer"

    @property
    def label(self) -> str:
        return _ROLE_LABELS[self]


_ROLE_LABELS = {
    Role.PARTNER_CONTRIBUTOR: "Partner contributor",
    Role.PARTNER_LEAD: "Partner lead",
    Role.SOCIAL_WORKER: "Social worker",
    Role.TEAM_MANAGER: "Team manager",
    Role.IG_OFFICER: "Information governance officer",
    Role.PORTAL_ADMIN: "Portal administrator",
    Role.PARTNER_ENGAGEMENT_OFFICER: "Partner engagement officer",
}


class UserStatus(enum.StrEnum):
    PENDING = "pending"  # signed in once, waiting for approval
    ACTIVE = "active"
    SUSPENDED = "suspended"


class User(HasId, UserMixin, Base):
    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    issuer: Mapped[str] = mapped_column(sa.String(500))
    subject: Mapped[str] = mapped_column(sa.String(255))
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    # Professional contact details, as the identity provider asserts them.
    email: Mapped[str | None] = mapped_column(sa.String(320))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[UserStatus] = mapped_column(enum_type(UserStatus), default=UserStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_signed_in_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    team: Mapped[Team | None] = relationship()
    role_assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user",
        lazy="selectin",
        cascade="all, delete-orphan",
        foreign_keys="RoleAssignment.user_id",
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(assignment.role for assignment in self.role_assignments)

    def has_role(self, *roles: Role) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def is_active(self) -> bool:  # Flask-Login: only active people keep a session
        return self.status == UserStatus.ACTIVE


class RoleSource(enum.StrEnum):
    LOCAL = "local"  # given in the portal by a partner lead or an admin
    IDENTITY_PROVIDER = "identity_provider"  # from a mapped group claim, renewed at each sign-in


class RoleAssignment(Base):
    __tablename__ = "role_assignments"

    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(enum_type(Role), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id"))
    source: Mapped[RoleSource] = mapped_column(enum_type(RoleSource), default=RoleSource.LOCAL)

    user: Mapped[User] = relationship(back_populates="role_assignments", foreign_keys=[user_id])
