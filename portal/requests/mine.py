"""The social worker's own requests: "My requests", a page at a time, and what needs doing.

A social worker works the cases they work: their list is the requests they issued and those on
cases allocated to them. "Whose requests: My team's" widens it to what the request pages let
them open (`council_sees`, portal/requests/access.py, that rule as a WHERE clause); a team
manager's list is their team's from the start. What awaits their review is what they may decide
(`council_decides`, the revoke-and-review rule). The filters, the order, the count and the page
are the database's, and only the page's rows are read, their children's names decrypted and the
read put on the record (one CHILD_DETAILS_VIEWED a row shown).
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.cases.directory import CMS_REFERENCE_PATTERN, NAME_NOT_HELD, name_if_held
from portal.crypto.records import RecordCipher
from portal.home import HomeSection, Link, ToDo
from portal.lifecycle import OutboxStatus, RequestStatus
from portal.models import (
    Case,
    Child,
    Contribution,
    DelegationRequest,
    Organisation,
    OutboxMessage,
    Role,
    User,
    request_children,
)
from portal.pagination import LAST_PAGE, count_of, pages_of
from portal.requests.access import council_decides, council_may_work_on, council_sees
from portal.requests.recipients import OPEN_STATUSES

PAGE_SIZE = 25

# The status filter: each status by the name the list shows, and two that are not statuses.
# "Awaiting your review" is a request sent back that the person may decide, not any sent back.
OVERDUE = "overdue"
DELIVERY_STOPPED = "delivery_stopped"
AWAITING_YOUR_REVIEW = "Awaiting your review"
STATUS_CHOICES: tuple[tuple[str, str], ...] = (
    ("", "Any status"),
    (RequestStatus.SUBMITTED.value, AWAITING_YOUR_REVIEW),
    (OVERDUE, "Overdue"),
    (RequestStatus.ISSUED.value, "Sent"),
    (RequestStatus.IN_PROGRESS.value, "In progress"),
    (RequestStatus.RETURNED.value, "Returned for more information"),
    (RequestStatus.ACCEPTED.value, "Accepted"),
    (DELIVERY_STOPPED, "Delivery to the case record stopped"),
    (RequestStatus.DELIVERED.value, "Delivered to the case record"),
    (RequestStatus.REJECTED.value, "Rejected"),
    (RequestStatus.REVOKED.value, "Withdrawn"),
    (RequestStatus.EXPIRED.value, "Closed"),
    (RequestStatus.CHILD_NOT_KNOWN.value, "Closed: child not known"),
)


# Whose requests: those the person issued or whose case is allocated to them, or their team's.
MINE = "mine"
TEAMS = "team"
WHOSE_CHOICES: tuple[tuple[str, str], ...] = ((MINE, "Mine"), (TEAMS, "My team’s"))
CASE_REFERENCE_ERROR = "Enter a case reference, like NCC-100234"


def usual_whose(person: User) -> str:
    """Whose requests a person's list starts with: a manager's team's, anyone else's own."""
    return TEAMS if person.has_role(Role.TEAM_MANAGER) else MINE


def is_case_reference(text: str) -> bool:
    """A CMS case reference, as the find-a-case form takes it, holding a number as every one
    does: a name typed into the case filter is never one (nor applied, nor shown back)."""
    return re.fullmatch(CMS_REFERENCE_PATTERN, text) is not None and any(
        character.isdigit() for character in text
    )


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; empty means everything the person may see."""

    case: str = ""  # a CMS case reference, as the case pages match it (exactly, trimmed)
    partner: uuid.UUID | None = None
    status: str = ""  # a value of STATUS_CHOICES
    whose: str = MINE  # a value of WHOSE_CHOICES
    case_refused: bool = False  # what was typed as the case is not a case reference

    @classmethod
    def read(
        cls,
        case: str,
        partner: str,
        status: str,
        whose: str = "",
        usual: str = MINE,
        partners: Collection[uuid.UUID] = (),
    ) -> Filters:
        """From the filter form's query string: anything unknown is left out, never an error
        (the values come back in links people may keep or edit), as is a partner not among
        those offered; a case that is not a case reference is left out and said to be."""
        try:
            partner_id = uuid.UUID(partner) if partner else None
        except ValueError:
            partner_id = None
        known = {value for value, _ in STATUS_CHOICES}
        case = case.strip()
        refused = bool(case) and not is_case_reference(case)
        return cls(
            "" if refused else case,
            partner_id if partner_id in partners else None,
            status if status in known else "",
            whose if whose in (MINE, TEAMS) else usual,
            refused,
        )

    @property
    def any(self) -> bool:
        return bool(self.case or self.partner or self.status)


@dataclass(frozen=True)
class MyRequestRow:
    """One line of My requests: what the list shows."""

    reference: str
    case_reference: str
    partner: str
    due_on: date
    status: RequestStatus
    children: tuple[str, ...]  # names, in the family's order
    # The case is the viewer's team's, so its page opens for them (the issuer of a request on
    # a case since moved to another team still sees the request, not the case).
    case_is_theirs: bool = False
    # Sent back and the viewer's to decide (council_may_change).
    yours_to_review: bool = False
    # Accepted, and its delivery to the case record dead-lettered.
    delivery_stopped: bool = False


@dataclass(frozen=True)
class MyRequestsPage:
    rows: list[MyRequestRow]
    number: int  # this page, from 1
    pages: int  # at least 1, even when there is nothing to list
    total: int  # requests on every page together

    @property
    def first(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


def delivery_stopped() -> sa.ColumnElement[bool]:
    """The request has an accepted version whose delivery to the CMS was dead-lettered."""
    return sa.exists(
        sa.select(OutboxMessage.id)
        .join(Contribution, Contribution.id == OutboxMessage.contribution_id)
        .where(
            Contribution.request_id == DelegationRequest.id,
            OutboxMessage.status == OutboxStatus.DEAD_LETTERED,
        )
    )


def overdue(today: date) -> sa.ColumnElement[bool]:
    return sa.and_(DelegationRequest.status.in_(OPEN_STATUSES), DelegationRequest.due_on < today)


def awaiting_review_by(person: User) -> sa.ColumnElement[bool]:
    """Sent back by the partner, and the person's to decide."""
    return sa.and_(DelegationRequest.status == RequestStatus.SUBMITTED, council_decides(person))


def whose_requests(person: User, whose: str) -> sa.ColumnElement[bool]:
    """The requests a list covers: the team's (all the person may see), or the person's own,
    issued by them or on a case allocated to them (still only those they may see)."""
    if whose == TEAMS:
        return council_sees(person)
    allocated = sa.select(Case.id).where(Case.allocated_worker_id == person.id)
    return sa.and_(
        council_sees(person),
        sa.or_(
            DelegationRequest.requested_by_id == person.id,
            DelegationRequest.case_id.in_(allocated),
        ),
    )


def _conditions(worker: User, filters: Filters, today: date) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [whose_requests(worker, filters.whose)]
    if filters.case:
        conditions.append(Case.cms_reference == filters.case)
    if filters.partner:
        conditions.append(DelegationRequest.partner_organisation_id == filters.partner)
    if filters.status == OVERDUE:
        conditions.append(overdue(today))
    elif filters.status == DELIVERY_STOPPED:
        conditions.append(delivery_stopped())
    elif filters.status == RequestStatus.SUBMITTED.value:
        conditions.append(awaiting_review_by(worker))
    elif filters.status:
        conditions.append(DelegationRequest.status == RequestStatus(filters.status))
    return conditions


def my_requests_page(
    session: Session,
    cipher: RecordCipher,
    worker: User,
    filters: Filters,
    today: date,
    number: int = 1,
    shown_in: str | None = "my_requests",
) -> MyRequestsPage:
    """Page `number` of the requests the worker may see, narrowed by `filters`: awaiting
    their review first, then the open ones by due date, then the rest. Past the last
    page: no rows, `number` > `pages`. Shown children's names are a read of their details, on
    the record row by row as shown in `shown_in` (None: the caller records the page's read as
    one)."""
    number = min(max(number, 1), LAST_PAGE)
    query = _page_query(worker, filters, today, number)
    found = session.execute(query).all()
    if not found:  # none, or past the last page (the route sends them to it)
        total = count_of(session, query) if number > 1 else 0
        return MyRequestsPage([], number, pages_of(total, PAGE_SIZE), total)
    names = children_named(session, cipher, [row.id for row in found])
    rows = [
        MyRequestRow(
            row.reference,
            row.cms_reference,
            row.name,
            row.due_on,
            row.status,
            names.get(row.id, ()),
            council_may_work_on(worker, row.team_id),
            bool(row.yours_to_review),
            bool(row.delivery_stopped),
        )
        for row in found
    ]
    for row in rows:  # a row naming no one still held reads no one's details
        if shown_in is not None and any(name != NAME_NOT_HELD for name in row.children):
            record_children_shown(worker, row.reference, row.case_reference, shown_in)
    total = found[0].total
    return MyRequestsPage(rows, number, pages_of(total, PAGE_SIZE), total)


def _page_query(
    worker: User, filters: Filters, today: date, number: int
) -> sa.Select[*tuple[Any, ...]]:
    """The page's rows and the count of every row, as the list shows them and no more."""
    request = DelegationRequest
    yours_to_review = awaiting_review_by(worker)
    rank = sa.case(
        (yours_to_review, 0),
        (request.status.in_((*OPEN_STATUSES, RequestStatus.SUBMITTED)), 1),
        else_=2,
    )
    return (
        sa.select(
            request.id,
            request.reference,
            Case.cms_reference,
            Organisation.name,
            request.due_on,
            request.status,
            Case.team_id,
            yours_to_review.label("yours_to_review"),
            delivery_stopped().label("delivery_stopped"),
            sa.func.count().over().label("total"),
        )
        .join(Case, Case.id == request.case_id)
        .join(Organisation, Organisation.id == request.partner_organisation_id)
        .where(*_conditions(worker, filters, today))
        .order_by(rank, request.due_on, request.reference)
        .limit(PAGE_SIZE)
        .offset((number - 1) * PAGE_SIZE)
    )


def children_named(
    session: Session, cipher: RecordCipher, request_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, ...]]:
    """The names of the children each of these requests is about, in the family's order:
    one query, and only these requests' children decrypted."""
    pairs = session.execute(
        sa.select(request_children.c.request_id, Child)
        .join(Child, Child.id == request_children.c.child_id)
        .where(request_children.c.request_id.in_(request_ids))
        .order_by(Child.position)
    ).all()
    opened: dict[uuid.UUID, str] = {}
    named: dict[uuid.UUID, list[str]] = defaultdict(list)
    for request_id, child in pairs:
        if child.id not in opened:
            opened[child.id] = name_if_held(cipher, child) or NAME_NOT_HELD
        named[request_id].append(opened[child.id])
    return {request_id: tuple(found) for request_id, found in named.items()}


def record_children_shown(viewer: User, reference: str, case_reference: str, where: str) -> None:
    """A request's children named on a list: a read of their details, on the record."""
    record_lasting_event(
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(viewer),
        object_type="delegation_request",
        object_id=reference,
        case_reference=case_reference,
        details={"shown_in": where},
    )


def partners_of(session: Session, worker: User) -> list[tuple[uuid.UUID, str]]:
    """The partner organisations of the requests the worker may see, for the filter."""
    return [
        (row.id, row.name)
        for row in session.execute(
            sa.select(Organisation.id, Organisation.name)
            .where(
                Organisation.id.in_(
                    sa.select(DelegationRequest.partner_organisation_id).where(council_sees(worker))
                )
            )
            .order_by(Organisation.name)
        )
    ]


def council_to_do(session: Session, worker: User, today: date) -> HomeSection:
    """The social worker's section of the home page: one aggregate query over the requests
    their list starts with, each count linking to My requests filtered to it; to review is
    what they may decide."""
    request = DelegationRequest

    def counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count().filter(condition)

    counts = session.execute(
        sa.select(
            counted(awaiting_review_by(worker)),
            counted(request.status == RequestStatus.RETURNED),
            counted(overdue(today)),
            counted(delivery_stopped()),
        ).where(whose_requests(worker, usual_whose(worker)))
    ).one()
    to_review, returned, late, stopped = (int(count) for count in counts)
    where = "requests.dashboard"
    return HomeSection(
        heading="Your requests to partners",
        to_do=[
            ToDo("requests to review", to_review, where, {"status": RequestStatus.SUBMITTED.value}),
            ToDo(
                "requests returned, awaiting the partner",
                returned,
                where,
                {"status": RequestStatus.RETURNED.value},
            ),
            ToDo("overdue requests", late, where, {"status": OVERDUE}, urgent=True),
            ToDo(
                "deliveries to the case record stopped",
                stopped,
                where,
                {"status": DELIVERY_STOPPED},
                urgent=True,
            ),
        ],
        links=[
            Link("Your requests", where),
            Link("Your cases", "cases.index"),
            Link("Ask a partner for information", "requests.find_case"),
        ],
        all_done="Nothing needs your attention at the moment.",
    )
