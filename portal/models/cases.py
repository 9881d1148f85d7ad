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
    CMS's own key for the person: what every delivery names the child by.

    A child the CMS no longer lists on the case (`delisted_at`) stays on the requests that
    name them, but is never offered for a new one."""

    __tablename__ = "children"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "position"),
        # A person is on a case once: two children with one person id would file one person's
        # answers on the other's record.
        sa.Index(
            "uq_children_case_id_cms_person_id",
            "case_id",
            "cms_person_id",
            unique=True,
            postgresql_where=sa.text("cms_person_id IS NOT NULL"),
            sqlite_where=sa.text("cms_person_id IS NOT NULL"),
        ),
        # The IG officer finds a child by person id on any case (migration 0012).
        sa.Index(None, "cms_person_id"),
    )

    case_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)  # order within the family on the case
    cms_person_id: Mapped[str | None] = mapped_column(sa.String(64))
    name_enc: Mapped[bytes]
    date_of_birth_enc: Mapped[bytes]
    # Canonical forms (portal.cases.identifiers), only ever ones that passed their check digit.
    nhs_number_enc: Mapped[bytes | None]
    upn_enc: Mapped[bytes | None]
    # The identifiers the CMS holds for the child that fail their check (ChildIdentifier
    # codes, never the values): the worker is told to correct them there.
    invalid_identifiers: Mapped[list[str]] = mapped_column(default=list, server_default="[]")
    delisted_at: Mapped[datetime | None]  # when a lookup found the CMS no longer lists them
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="children")
