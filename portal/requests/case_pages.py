"""What the case pages show, for the route modules: the cases of the worker's team ("Your
cases"), and one case with its children and its requests. Only workers and managers of the
case's team open a case (portal/requests/access.py council_may_work_on); the children named on
either page are a read of their details, on the record: one a case shown (a case page's
requests name only its children), none where no child is named."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import Case, Child, DelegationRequest, User
from portal.pagination import LAST_PAGE, count_of, pages_of
from portal.requests import mine
from portal.requests.access import council_may_work_on
from portal.requests.recipients import OPEN_STATUSES

PAGE_SIZE = 25


@dataclass(frozen=True)
class TeamCaseRow:
    reference: str
    children: tuple[str, ...]  # names, in the family's order
    allocated_to_viewer: bool
    allocated: bool  # to anyone
    requests: int
    open_requests: int  # sent, in progress or returned: with the partner
    awaiting_review: int  # sent back by the partner, for the council to decide


@dataclass(frozen=True)
class TeamCasesPage:
    team_name: str | None
    rows: list[TeamCaseRow]
    number: int
    pages: int
    total: int

    @property
    def first(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


def team_cases_page(
    session: Session, cipher: RecordCipher, worker: User, number: int = 1
) -> TeamCasesPage:
    """Page `number` of the cases of the worker's team that the portal holds: those allocated
    to them first, then those with open requests, then by reference. Past the last page, no rows and
    `number` > `pages`.
    A person without a team has no cases."""
    number = min(max(number, 1), LAST_PAGE)
    team_name = worker.team.name if worker.team is not None else None
    if worker.team_id is None or not council_may_work_on(worker, worker.team_id):
        return TeamCasesPage(team_name, [], number, 1, 0)
    query = _cases_query(worker, worker.team_id, number)
    found = session.execute(query).all()
    if not found:  # none, or past the last page (the route sends them to it)
        total = count_of(session, query) if number > 1 else 0
        return TeamCasesPage(team_name, [], number, pages_of(total, PAGE_SIZE), total)
    names = _children_of_cases(session, cipher, [row.id for row in found])
    rows = [
        TeamCaseRow(
            row.cms_reference,
            names.get(row.id, ()),
            bool(row.allocated_to_viewer),
            bool(row.allocated),
            int(row.requests),
            int(row.open_requests),
            int(row.awaiting_review),
        )
        for row in found
    ]
    for row in rows:
        if row.children:
            _record_children_shown(worker, row.reference, "your_cases")
    total = found[0].total
    return TeamCasesPage(team_name, rows, number, pages_of(total, PAGE_SIZE), total)


def _cases_query(worker: User, team_id: uuid.UUID, number: int) -> sa.Select[*tuple[Any, ...]]:
    """The page's cases of the team, each with how many requests it has, open and awaiting
    review, and the count of every case: the viewer's first, then those awaiting review, then
    those with open requests."""
    request = DelegationRequest
    awaiting = request.status == RequestStatus.SUBMITTED
    counts = (
        sa.select(
            request.case_id,
            sa.func.count().label("requests"),
            sa.func.count().filter(request.status.in_(OPEN_STATUSES)).label("open_requests"),
            sa.func.count().filter(awaiting).label("awaiting_review"),
        )
        .where(request.case_id.in_(sa.select(Case.id).where(Case.team_id == team_id)))
        .group_by(request.case_id)
        .subquery()
    )
    mine_first = sa.case((Case.allocated_worker_id == worker.id, 0), else_=1)
    review_first = sa.case((sa.func.coalesce(counts.c.awaiting_review, 0) > 0, 0), else_=1)
    open_first = sa.case((sa.func.coalesce(counts.c.open_requests, 0) > 0, 0), else_=1)
    return (
        sa.select(
            Case.id,
            Case.cms_reference,
            (Case.allocated_worker_id == worker.id).label("allocated_to_viewer"),
            Case.allocated_worker_id.is_not(None).label("allocated"),
            sa.func.coalesce(counts.c.requests, 0).label("requests"),
            sa.func.coalesce(counts.c.open_requests, 0).label("open_requests"),
            sa.func.coalesce(counts.c.awaiting_review, 0).label("awaiting_review"),
            sa.func.count().over().label("total"),
        )
        .outerjoin(counts, counts.c.case_id == Case.id)
        .where(Case.team_id == team_id)
        .order_by(mine_first, review_first, open_first, Case.cms_reference)
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    )


def _children_of_cases(
    session: Session, cipher: RecordCipher, case_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, ...]]:
    """The names of the children the CMS lists on each of these cases: only theirs decrypted."""
    children = session.scalars(
        sa.select(Child)
        .where(Child.case_id.in_(case_ids), Child.delisted_at.is_(None))
        .order_by(Child.position)
    )
    named: dict[uuid.UUID, list[str]] = defaultdict(list)
    for child in children:
        named[child.case_id].append(cipher.open_text(child, "name_enc") or "")
    return {case_id: tuple(found) for case_id, found in named.items()}


def _record_children_shown(viewer: User, case_reference: str, where: str) -> None:
    record_lasting_event(
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(viewer),
        object_type="case",
        object_id=case_reference,
        case_reference=case_reference,
        details={"shown_in": where},
    )


@dataclass(frozen=True)
class CaseChild:
    """A child as the case page shows them: the name and date of birth, nothing else opened
    (the identifiers the CMS holds stay sealed)."""

    name: str
    date_of_birth: date


@dataclass(frozen=True)
class CasePage:
    reference: str
    team_name: str
    allocated_to_viewer: bool
    children: tuple[CaseChild, ...]
    requests: mine.MyRequestsPage


def _listed_children(cipher: RecordCipher, case: Case) -> tuple[CaseChild, ...]:
    """The children the CMS listed on the case at its last lookup, in the family's order."""
    return tuple(
        CaseChild(
            cipher.open_text(child, "name_enc") or "",
            date.fromisoformat(cipher.open_text(child, "date_of_birth_enc") or ""),
        )
        for child in sorted(case.children, key=lambda child: child.position)
        if child.delisted_at is None
    )


def case_page(
    session: Session, cipher: RecordCipher, worker: User, cms_reference: str, today: date
) -> CasePage | None:
    """A case of the worker's team with its children (names and dates of birth) and its
    requests, the team's, soonest to act on first; None for a case they may not work on or
    that the portal does not hold, alike. The children named on the page, the case's and its
    requests', are one read of their details, on the record."""
    case = session.scalar(sa.select(Case).where(Case.cms_reference == cms_reference))
    if case is None or not council_may_work_on(worker, case.team_id):
        return None
    children = _listed_children(cipher, case)
    requests = mine.my_requests_page(
        session,
        cipher,
        worker,
        mine.Filters(case=case.cms_reference, whose=mine.TEAMS),
        today,
        shown_in=None,
    )
    found = requests
    if children or any(row.children for row in found.rows):
        _record_children_shown(worker, case.cms_reference, "case_page")
    return CasePage(
        case.cms_reference,
        case.team.name,
        case.allocated_worker_id == worker.id,
        children,
        found,
    )
