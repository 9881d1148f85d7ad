"""Cases from the CMS and the children on them. Children's details are stored only encrypted."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.models.base import Base, HasId, Sealed, utcnow
from portal.models.organisations import Team


class Case(HasId, Base):
    __tablename__ = "cases"

    cms_reference: Mapped[str] = mapped_column(sa.String(64), unique=True)
    team_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("teams.id"), index=True)
    allocated_worker_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship()
    children: Mapped[list[Child]] = relationship(back_populates="case", order_by="Child.position")


class Child(Sealed, Base):
    """The minimum the portal holds about a child: name and date of birth, and the consistent
    identifiers the CMS holds for them (NHS number, UPN), all encrypted. `cms_person_id` is the
    CMS's own key for the person: what every delivery names the child by."""

    __tablename__ = "children"
    __table_args__ = (sa.UniqueConstraint("case_id", "position"),)

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order within the family on the case
    cms_person_id: Mapped[str | None] = mapped_column(sa.String(64))
    name_enc: Mapped[bytes]
    date_of_birth_enc: Mapped[bytes]
    # Canonical forms (portal.cases.identifiers), only ever ones that passed their check digit.
    nhs_number_enc: Mapped[bytes | None]
    upn_enc: Mapped[bytes | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="children")
