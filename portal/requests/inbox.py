"""A partner's inbox: the requests its people may open, a page at a time, with the children
each is about, who it is with, and counts of what needs doing; and the partner's home-page
section. The visibility rule, order, counts, filters and paging are the database's, reading
only the page's rows: an organisation with thousands of requests costs the same page."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager

from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.cases.directory import NAME_NOT_HELD, name_if_held
from portal.crypto.records import RecordCipher
from portal.home import HomeSection, Link, ToDo
from portal.lifecycle import RequestStatus
from portal.models import Case, Child, DelegationRequest, User, request_children
from portal.pagination import LAST_PAGE, count_of, pages_of
from portal.requests.access import partner_sees
from portal.requests.recipients import OPEN_STATUSES
from portal.uk_time import uk_today

# Requests on one page of a partner's inbox.
INBOX_PAGE_SIZE = 25
DUE_SOON_DAYS = 7  # "due this week": today and the six days after


class StatusFilter(enum.StrEnum):
    """The inbox's status filter: groups of statuses, as the partner thinks of them."""

    TO_ANSWER = "to-answer"
    RETURNED = "returned"
    SENT = "sent"  # awaiting the council's review
    ACCEPTED = "accepted"
    CLOSED = "closed"  # rejected, or the partner knew none of the children


STATUS_LABELS = {
    StatusFilter.TO_ANSWER: "To answer",
    StatusFilter.RETURNED: "Returned for more information",
    StatusFilter.SENT: "Sent, awaiting review",
    StatusFilter.ACCEPTED: "Accepted",
    StatusFilter.CLOSED: "Closed",
}
_STATUSES = {
    StatusFilter.TO_ANSWER: OPEN_STATUSES,
    StatusFilter.RETURNED: frozenset({RequestStatus.RETURNED}),
    StatusFilter.SENT: frozenset({RequestStatus.SUBMITTED}),
    StatusFilter.ACCEPTED: frozenset({RequestStatus.ACCEPTED, RequestStatus.DELIVERED}),
    StatusFilter.CLOSED: frozenset({RequestStatus.REJECTED, RequestStatus.CHILD_NOT_KNOWN}),
}


class DueFilter(enum.StrEnum):
    OVERDUE = "overdue"
    THIS_WEEK = "this-week"


DUE_LABELS = {DueFilter.OVERDUE: "Overdue", DueFilter.THIS_WEEK: "Due this week"}


@dataclass(frozen=True)
class InboxFilters:
    status: StatusFilter | None = None
    due: DueFilter | None = None
    with_me: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> InboxFilters:
        """The filters a query string asks for; a value the form never offers is ignored."""
        status = args.get("status", "")
        due = args.get("due", "")
        return cls(
            status=StatusFilter(status) if status in set(StatusFilter) else None,
            due=DueFilter(due) if due in set(DueFilter) else None,
            with_me=args.get("with") == "me",
        )

    def args(self) -> dict[str, str]:
        """As a query string's arguments, for the page links (which keep the filters)."""
        chosen = {"status": self.status, "due": self.due, "with": "me" if self.with_me else None}
        return {name: str(value) for name, value in chosen.items() if value}

    @property
    def any(self) -> bool:
        return bool(self.args())


@dataclass(frozen=True)
class InboxRow:
    """One line of a partner's inbox: what the list shows, the children's names opened."""

    reference: str
    named_recipient_id: uuid.UUID | None
    named_recipient_name: str | None
    due_on: date
    status: RequestStatus
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InboxCounts:
    to_answer: int
    due_this_week: int
    overdue: int
    with_me: int
    returned: int


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    number: int  # this page, from 1
    pages: int  # at least 1, even when there is nothing to list
    total: int  # requests on every page together, as filtered
    filters: InboxFilters = InboxFilters()

    @property
    def first(self) -> int:
        return (self.number - 1) * INBOX_PAGE_SIZE + 1


def _conditions(person: User, filters: InboxFilters, today: date) -> list[sa.ColumnElement[bool]]:
    request = DelegationRequest
    chosen: list[sa.ColumnElement[bool]] = [partner_sees(person, datetime.now(UTC))]
    if filters.status is not None:
        chosen.append(request.status.in_(_STATUSES[filters.status]))
    if filters.due is DueFilter.OVERDUE:
        chosen += [request.status.in_(OPEN_STATUSES), request.due_on < today]
    elif filters.due is DueFilter.THIS_WEEK:
        soon = today + timedelta(days=DUE_SOON_DAYS)
        chosen += [
            request.status.in_(OPEN_STATUSES),
            request.due_on >= today,
            request.due_on < soon,
        ]
    if filters.with_me:
        chosen.append(request.named_recipient_id == person.id)
    return chosen


def inbox_page(
    session: Session,
    person: User,
    number: int = 1,
    filters: InboxFilters | None = None,
    today: date | None = None,
) -> InboxPage:
    """Page `number` of what the person may open (as filtered), open requests first, then
    soonest due. Chosen, ordered and cut into pages by the database, reading only the
    columns the list shows: a busy partner has thousands. Past the last page, no rows and
    `number` > `pages` (the route sends the person to the last page)."""
    number = min(max(number, 1), LAST_PAGE)
    filters = filters or InboxFilters()
    request = DelegationRequest
    named = sa.orm.aliased(User)
    still_open = sa.case((request.status.in_(OPEN_STATUSES), 0), else_=1)
    query = (
        sa.select(
            request.reference,
            request.named_recipient_id,
            named.display_name,
            request.due_on,
            request.status,
            request.id,
            sa.func.count().over().label("total"),
        )
        .outerjoin(named, named.id == request.named_recipient_id)
        .where(*_conditions(person, filters, today or uk_today()))
        .order_by(still_open, request.due_on, request.reference)
        .limit(INBOX_PAGE_SIZE)
        .offset((number - 1) * INBOX_PAGE_SIZE)
    )
    rows = session.execute(query).all()
    if not rows:
        total = count_of(session, query) if number > 1 else 0
        return InboxPage([], number, pages_of(total, INBOX_PAGE_SIZE), total, filters)
    total = rows[0].total
    listed = [InboxRow(*row[:5]) for row in rows]
    return InboxPage(listed, number, pages_of(total, INBOX_PAGE_SIZE), total, filters)


def with_children(
    session: Session, cipher: RecordCipher, page: InboxPage, person: User
) -> InboxPage:
    """The page with each row's children named: read for the page's rows only, in one query
    (with their data keys), and each row whose names are shown recorded as a read of the
    children's details. A request the partner closed as not knowing them names no one."""
    shown = [row.reference for row in page.rows if row.status is not RequestStatus.CHILD_NOT_KNOWN]
    if not shown:
        return page
    found = session.execute(
        sa.select(DelegationRequest.reference, Case.cms_reference, Child)
        .join(request_children, request_children.c.request_id == DelegationRequest.id)
        .join(Child, Child.id == request_children.c.child_id)
        .join(Case, Case.id == DelegationRequest.case_id)
        .outerjoin(Child.data_key)
        .options(contains_eager(Child.data_key))
        .where(DelegationRequest.reference.in_(shown))
        .order_by(DelegationRequest.reference, Child.position)
    ).all()
    names: dict[str, list[str]] = {}
    cases: dict[str, str] = {}
    for reference, cms_reference, child in found:
        name = name_if_held(cipher, child)
        names.setdefault(reference, []).append(name or NAME_NOT_HELD)
        if name is not None:  # a row is a read only of names it shows
            cases[reference] = cms_reference
    for reference in cases:
        record_lasting_event(
            AuditAction.CHILD_DETAILS_VIEWED,
            actor=actor_for(person),
            object_type="delegation_request",
            object_id=reference,
            case_reference=cases[reference],
            details={"shown_in": "inbox"},
        )
    rows = [replace(row, children=names.get(row.reference, [])) for row in page.rows]
    return replace(page, rows=rows)


def inbox_counts(session: Session, person: User, today: date) -> InboxCounts:
    """What the person has to do, counted by the database in one aggregate query over the
    requests the inbox would list (the same rule)."""
    request = DelegationRequest
    still_open = request.status.in_(OPEN_STATUSES)
    soon = today + timedelta(days=DUE_SOON_DAYS)
    counted = session.execute(
        sa.select(
            sa.func.count().filter(still_open),
            sa.func.count().filter(still_open, request.due_on >= today, request.due_on < soon),
            sa.func.count().filter(still_open, request.due_on < today),
            sa.func.count().filter(still_open, request.named_recipient_id == person.id),
            sa.func.count().filter(request.status == RequestStatus.RETURNED),
        ).where(partner_sees(person, datetime.now(UTC)))
    ).one()
    return InboxCounts(*counted)


def partner_to_do(session: Session, person: User, today: date) -> HomeSection:
    """The partner's section of the home page: the inbox's counts, each linking to the inbox
    filtered to what it counts."""
    counts = inbox_counts(session, person, today)
    inbox = "inbox.index"
    to_answer = {"status": StatusFilter.TO_ANSWER.value}
    returned = {"status": StatusFilter.RETURNED.value}
    to_do = [
        ToDo("requests to answer", counts.to_answer, inbox, to_answer),
        ToDo("requests passed to you", counts.with_me, inbox, to_answer | {"with": "me"}),
        ToDo("requests due this week", counts.due_this_week, inbox, {"due": DueFilter.THIS_WEEK}),
        ToDo("overdue requests", counts.overdue, inbox, {"due": DueFilter.OVERDUE}, urgent=True),
        ToDo("answers returned for more information", counts.returned, inbox, returned),
    ]
    return HomeSection(
        heading=f"Requests for {person.organisation.name}",
        to_do=to_do,
        links=[Link("Your organisation’s requests", inbox)],
        all_done="There is nothing to answer at the moment.",
    )
