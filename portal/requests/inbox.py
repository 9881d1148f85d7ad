"""A partner's inbox: the requests its people may open, a page at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.home import HomeSection, Link
from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest, User
from portal.requests.access import partner_sees
from portal.requests.recipients import OPEN_STATUSES

# Requests on one page of a partner's inbox.
INBOX_LAST_PAGE = 100_000
INBOX_PAGE_SIZE = 25


@dataclass(frozen=True)
class InboxRow:
    """One line of a partner's inbox: what the list shows, and nothing sealed."""

    reference: str
    named_recipient_id: uuid.UUID | None
    due_on: date
    status: RequestStatus


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    number: int  # this page, from 1
    pages: int  # at least 1, even when there is nothing to list
    total: int  # requests on every page together

    @property
    def first(self) -> int:
        return (self.number - 1) * INBOX_PAGE_SIZE + 1


def inbox_page(session: Session, person: User, number: int = 1) -> InboxPage | None:
    """Page `number` of what the person may open, open requests first, then soonest due;
    None past the last page. Chosen, ordered and cut into pages by the database, reading only
    the columns the list shows: a busy partner has hundreds, and loading them all as whole
    requests, then sorting and showing them all, cost most of the page."""
    if not 1 <= number <= INBOX_LAST_PAGE:
        return None  # a page number no inbox reaches (and no database offset can hold)
    request = DelegationRequest
    still_open = sa.case((request.status.in_(OPEN_STATUSES), 0), else_=1)
    rows = session.execute(
        sa.select(request.reference, request.named_recipient_id, request.due_on, request.status)
        .add_columns(sa.func.count().over().label("total"))
        .where(partner_sees(person, datetime.now(UTC)))
        .order_by(still_open, request.due_on, request.reference)
        .limit(INBOX_PAGE_SIZE)
        .offset((number - 1) * INBOX_PAGE_SIZE)
    ).all()
    if not rows:
        return InboxPage([], 1, 1, 0) if number == 1 else None
    total = rows[0].total
    listed = [InboxRow(*row[:4]) for row in rows]
    return InboxPage(listed, number, -(-total // INBOX_PAGE_SIZE), total)


def partner_to_do(session: Session, person: User, today: date) -> HomeSection:
    """The partner's section of the home page. (Issue 20 helper B: the counts.)"""
    return HomeSection(
        heading=f"Requests for {person.organisation.name}",
        to_do=[],
        links=[Link("Your organisation’s requests", "inbox.index")],
        all_done="There is nothing to answer at the moment.",
    )
