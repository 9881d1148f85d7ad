"""Finding the case (and the child on it) an IG officer asks about, for "who has seen this
child's information".

Children's names and identifiers are encrypted with per-record keys, so they cannot be
searched: a child is found by the CMS's person id (kept in the clear as the CMS's own key for
them) or chosen among the case's children, who are shown by their place in the family and
person id, never by name (showing names would itself be a read of their details).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from portal.audit.search import AccessRow, access_report
from portal.models import AuditEvent, Case, Child, DelegationRequest, request_children

MAX_MATCHES = 50


@dataclass(frozen=True)
class ChildOnCase:
    case_reference: str
    position: int  # 1 for the first child the CMS lists on the case
    person_id: str | None
    requests: int  # how many requests name them
    delisted: bool  # the CMS no longer lists them on the case


@dataclass(frozen=True)
class CaseFound:
    reference: str
    held: bool  # the portal holds the case (else the trail names it only)
    children: list[ChildOnCase]
    truncated: bool = False  # more than MAX_MATCHES children: the first are shown


@dataclass(frozen=True)
class PersonFound:
    children: list[ChildOnCase]  # one for each case the person id is a child on
    truncated: bool  # more than MAX_MATCHES: the first are shown


def find_case(session: Session, reference: str) -> CaseFound | None:
    """The case with exactly this reference, with its children; or one the trail names that
    the portal no longer holds; or None."""
    case_id = session.scalar(sa.select(Case.id).where(Case.cms_reference == reference))
    if case_id is None:
        named = session.scalar(
            sa.select(AuditEvent.seq).where(AuditEvent.case_reference == reference).limit(1)
        )
        return None if named is None else CaseFound(reference, held=False, children=[])
    children, truncated = _children(session, Case.id == case_id)
    return CaseFound(reference, held=True, children=children, truncated=truncated)


def find_person(session: Session, person_id: str) -> PersonFound:
    """Every case the CMS person id is a child on (a child may be on more than one)."""
    return PersonFound(*_children(session, Child.cms_person_id == person_id))


@dataclass(frozen=True)
class ChildReport:
    """Who read what concerns one child on a case."""

    position: int
    person_id: str | None  # None: the CMS gave none, the child is found by position
    request_references: list[str]  # the requests on the case that name them
    rows: list[AccessRow]


def child_access_report(
    session: Session, reference: str, person_id: str | None = None, position: int | None = None
) -> ChildReport | None:
    """The access report narrowed to one child, by their CMS person id or, for a child the
    CMS gave none, their place on the case (1 for the first); None when the case has no such
    child."""
    which = (
        Child.cms_person_id == person_id
        if person_id is not None
        else sa.and_(Child.position == (position or 0) - 1, Child.cms_person_id.is_(None))
    )
    found = session.execute(
        sa.select(Child.id, Child.position, Child.cms_person_id)
        .join(Case, Case.id == Child.case_id)
        .where(Case.cms_reference == reference, which)
    ).first()
    if found is None:
        return None
    references = list(
        session.scalars(
            sa.select(DelegationRequest.reference)
            .join(request_children, request_children.c.request_id == DelegationRequest.id)
            .where(request_children.c.child_id == found.id)
            .order_by(DelegationRequest.reference)
        )
    )
    rows = access_report(session, reference, only=about_child(references))
    return ChildReport(found.position + 1, found.cms_person_id, references, rows)


def about_child(request_references: list[str]) -> ColumnElement[bool]:
    """The events on a case that concern one child: reads of the case as a whole (its page
    shows every child on it), and events about the requests that name the child, directly or
    (contributions, documents) through the request their details name."""
    return sa.or_(
        AuditEvent.object_type == "case",
        sa.and_(
            AuditEvent.object_type == "delegation_request",
            AuditEvent.object_id.in_(request_references),
        ),
        AuditEvent.details["request"].as_string().in_(request_references),
    )


def _children(session: Session, where: ColumnElement[bool]) -> tuple[list[ChildOnCase], bool]:
    """The children matching `where`, the first MAX_MATCHES, each with how many requests name
    them (one grouped query), and whether there were more."""
    rows = session.execute(
        sa.select(
            Case.cms_reference,
            Child.position,
            Child.cms_person_id,
            Child.delisted_at,
            sa.func.count(request_children.c.request_id),
        )
        .join(Case, Case.id == Child.case_id)
        .outerjoin(request_children, request_children.c.child_id == Child.id)
        .where(where)
        .group_by(Child.id, Case.cms_reference)
        .order_by(Case.cms_reference, Child.position)
        .limit(MAX_MATCHES + 1)
    ).all()
    return [
        ChildOnCase(reference, position + 1, person_id, requests, delisted_at is not None)
        for reference, position, person_id, delisted_at, requests in rows[:MAX_MATCHES]
    ], len(rows) > MAX_MATCHES
