"""Searching the audit trail, and the "who accessed this child's information" report.

Every search walks an index on (column, seq) or the seq primary key, newest first, a page at a
time by keyset (`seq < :before`), never OFFSET, so a page costs the same on the millionth
event as on the first. A date range becomes a seq range through the occurred_at index.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select
from sqlalchemy.orm import QueryableAttribute, Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from portal.audit.actions import SENSITIVE_READS, AuditAction
from portal.models import AuditEvent, Organisation, User

# What the IG officer's search form names, so that its route module never imports the model.
from portal.models import AuditOutcome as AuditOutcome
from portal.uk_time import end_of_uk_day, start_of_uk_day

# A person filter matching more people than this asks for something more specific: each
# person is one walk of the (actor_user_id, seq) index.
MAX_PEOPLE = 25


def matches(session: Session, audit_filter: AuditFilter) -> ColumnElement[bool]:
    """The whole filter as one condition (for exports, which read in seq order anyway)."""
    conditions = filter_conditions(session, audit_filter)
    if conditions is None:
        return sa.false()
    if audit_filter.person is not None:
        conditions.append(
            AuditEvent.actor_user_id.in_(matching_people(session, audit_filter.person))
        )
    return sa.and_(sa.true(), *conditions)


class FilterTooBroad(ValueError):
    """The person filter matches too many people to search for them one by one."""


@dataclass(frozen=True)
class AuditFilter:
    case_reference: str | None = None
    person: str | None = None  # an exact e-mail address, part of a name, or a user id
    organisation_id: uuid.UUID | None = None
    action: AuditAction | None = None
    outcome: AuditOutcome | None = None
    date_from: date | None = None  # inclusive, a UK calendar day
    date_to: date | None = None  # inclusive, a UK calendar day

    def used(self) -> dict[str, bool]:
        """Which filters are set, by name: what an audit event about the search may say."""
        return {name: value is not None for name, value in vars(self).items()}


@dataclass(frozen=True)
class Who:
    """An event's actor as the portal knows them now; the trail's ids when they are gone."""

    user_id: uuid.UUID | None
    name: str
    email: str | None
    organisation: str


@dataclass(frozen=True)
class EventRow:
    event: AuditEvent
    who: Who


@dataclass(frozen=True)
class SearchPage:
    rows: list[EventRow]
    older: int | None  # pass as `before` for the next page of older events
    newer: int | None  # pass as `after` for the page of newer events
    people_matched: int | None = None  # with a person filter: how many people it matched


@dataclass
class AccessRow:
    """One person's successful reads of a case's sensitive content."""

    who: Who
    roles: list[str]
    reads: dict[str, int] = field(default_factory=dict)  # action -> count
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.reads.values())


def search(
    session: Session,
    audit_filter: AuditFilter,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> SearchPage:
    """A page of matching events, newest first: those just older than `before`, or just newer
    than `after` (the "newer events" link), or the newest of all."""
    if before is not None and after is not None:
        raise ValueError("page by before or after, not both")
    people = None if audit_filter.person is None else matching_people(session, audit_filter.person)
    conditions = filter_conditions(session, audit_filter)
    if conditions is None or people == []:
        return SearchPage([], None, None, None if people is None else 0)

    walk = _Walk(session, conditions, people)
    if after is not None:
        found = walk.fetch(after=after, take=limit + 1)
        page = found[:limit]
        newer = page[-1].seq if len(found) > limit else None
        edge = page[0].seq if page else after + 1
        older = edge if walk.fetch(before=edge, take=1) else None
        shown = list(reversed(page))
    else:
        found = walk.fetch(before=before, take=limit + 1)
        shown = found[:limit]
        older = shown[-1].seq if len(found) > limit else None
        newer = None
        if before is not None:  # not the newest page: is anything newer there?
            edge = shown[0].seq if shown else before - 1
            newer = edge if walk.fetch(after=edge, take=1) else None
    return SearchPage(
        rows=with_people(session, shown),
        older=older,
        newer=newer,
        people_matched=None if people is None else len(people),
    )


def matching_people(session: Session, text: str) -> list[uuid.UUID]:
    """Ids of the people `text` names: by exact e-mail address or part of their display name
    (either case), or by their id (which finds people the portal no longer holds)."""
    text = text.strip()
    try:
        as_id: uuid.UUID | None = uuid.UUID(text)
    except ValueError:
        as_id = None
    query = sa.select(User.id).where(
        sa.or_(
            sa.func.lower(User.email) == text.lower(),
            sa.func.lower(User.display_name).contains(text.lower(), autoescape=True),
        )
    )
    ids = set(session.scalars(query.limit(MAX_PEOPLE + 1)))
    if as_id is not None:
        ids.add(as_id)
    if len(ids) > MAX_PEOPLE:
        raise FilterTooBroad(text)
    return sorted(ids)


def event_row(session: Session, seq: int) -> EventRow | None:
    event = session.get(AuditEvent, seq)
    return None if event is None else with_people(session, [event])[0]


def organisations(session: Session) -> list[tuple[uuid.UUID, str]]:
    """Every organisation, by name: the choices of the search's organisation filter."""
    return [
        (row.id, row.name)
        for row in session.execute(
            sa.select(Organisation.id, Organisation.name).order_by(Organisation.name)
        )
    ]


def access_report(
    session: Session, case_reference: str, only: ColumnElement[bool] | None = None
) -> list[AccessRow]:
    """Who read the case's sensitive content, with how often and when, earliest reader first;
    `only` narrows the reads (to one child's: portal/audit/case_lookup.py about_child).

    Counts successful reads (SENSITIVE_READS); refused attempts are PERMISSION_DENIED events,
    found by searching the case's trail.
    """
    first = sa.func.min(AuditEvent.occurred_at).label("first_at")
    last = sa.func.max(AuditEvent.occurred_at).label("last_at")
    query = (
        sa.select(
            AuditEvent.actor_user_id,
            AuditEvent.actor_organisation_id,
            AuditEvent.actor_role,
            AuditEvent.action,
            sa.func.count().label("reads"),
            first,
            last,
        )
        .where(
            AuditEvent.case_reference == case_reference,
            AuditEvent.action.in_(sorted(action.value for action in SENSITIVE_READS)),
            AuditEvent.outcome == AuditOutcome.SUCCESS,
            only if only is not None else sa.true(),
        )
        .group_by(
            AuditEvent.actor_user_id,
            AuditEvent.actor_organisation_id,
            AuditEvent.actor_role,
            AuditEvent.action,
        )
    )
    groups = session.execute(query).all()
    names = _Names.load(session, ((g.actor_user_id, g.actor_organisation_id) for g in groups))
    report: dict[tuple[uuid.UUID | None, uuid.UUID | None], AccessRow] = {}
    for group in groups:
        key = (group.actor_user_id, group.actor_organisation_id)
        row = report.get(key)
        if row is None:
            row = report[key] = AccessRow(who=names.who(*key), roles=[])
        for role in (group.actor_role or "").split(","):
            if role and role not in row.roles:
                row.roles.append(role)
        row.reads[group.action] = row.reads.get(group.action, 0) + group.reads
        row.first_at = min(filter(None, (row.first_at, group.first_at)))
        row.last_at = max(filter(None, (row.last_at, group.last_at)))
    for row in report.values():
        row.roles.sort()
        row.reads = dict(sorted(row.reads.items()))
    return sorted(report.values(), key=lambda row: (row.first_at, row.who.name))


def with_people(session: Session, events: Sequence[AuditEvent]) -> list[EventRow]:
    names = _Names.load(session, ((e.actor_user_id, e.actor_organisation_id) for e in events))
    return [
        EventRow(event, names.who(event.actor_user_id, event.actor_organisation_id))
        for event in events
    ]


def day_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """UK days as UTC instants: the start of `first`, and the start of the day after `last`."""
    return (
        None if first is None else start_of_uk_day(first),
        None if last is None else end_of_uk_day(last),
    )


def filter_conditions(
    session: Session, audit_filter: AuditFilter
) -> list[ColumnElement[bool]] | None:
    """The filter, but for the person, as conditions on audit_events; None when its date
    range holds no event. (The search walks each person's index separately.)"""
    conditions: list[ColumnElement[bool]] = []
    if audit_filter.case_reference is not None:
        conditions.append(AuditEvent.case_reference == audit_filter.case_reference)
    if audit_filter.organisation_id is not None:
        conditions.append(AuditEvent.actor_organisation_id == audit_filter.organisation_id)
    if audit_filter.action is not None:
        conditions.append(AuditEvent.action == audit_filter.action.value)
    if audit_filter.outcome is not None:
        conditions.append(AuditEvent.outcome == audit_filter.outcome)
    start, end = day_bounds(audit_filter.date_from, audit_filter.date_to)
    if start is not None:
        low = _seq_at(session, AuditEvent.occurred_at >= start, earliest=True)
        if low is None:
            return None
        conditions += [AuditEvent.seq >= low, AuditEvent.occurred_at >= start]
    if end is not None:
        high = _seq_at(session, AuditEvent.occurred_at < end, earliest=False)
        if high is None:
            return None
        conditions += [AuditEvent.seq <= high, AuditEvent.occurred_at < end]
    return conditions


def _seq_at(session: Session, bound: ColumnElement[bool], *, earliest: bool) -> int | None:
    """The first (or last) event's seq on one side of a time, found through the occurred_at
    index in one probe.

    Events are numbered under the append lock and timed under it, so seq order is time order
    (up to clock steps between web servers, which the occurred_at condition the search keeps
    beside the seq range guards against including; such an event could only be missed at the
    very edge of the range).
    """
    order = (
        (AuditEvent.occurred_at.asc(), AuditEvent.seq.asc())
        if earliest
        else (AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())
    )
    found: int | None = session.scalar(
        sa.select(AuditEvent.seq).where(bound).order_by(*order).limit(1)
    )
    return found


class _Walk:
    """Fetches matching events in seq order from one side of a position, by keyset.

    With several people, each walks their own (actor_user_id, seq) index range and the walks
    are merged: `actor_user_id IN (...)` would make the database sort all their events.
    """

    def __init__(
        self,
        session: Session,
        conditions: list[ColumnElement[bool]],
        people: list[uuid.UUID] | None,
    ) -> None:
        self.session = session
        self.conditions = conditions
        self.people = people

    def fetch(
        self, *, before: int | None = None, after: int | None = None, take: int
    ) -> list[AuditEvent]:
        """Up to `take` events: newest first below `before`, or oldest first above `after`."""
        conditions = list(self.conditions)
        if before is not None:
            conditions.append(AuditEvent.seq < before)
        if after is not None:
            conditions.append(AuditEvent.seq > after)
        ascending = after is not None
        if self.people is None or len(self.people) == 1:
            if self.people:
                conditions.append(AuditEvent.actor_user_id == self.people[0])
            query = _in_order(sa.select(AuditEvent).where(*conditions), AuditEvent.seq, ascending)
            return list(self.session.scalars(query.limit(take)))
        walks = [
            sa.select(
                _in_order(
                    sa.select(AuditEvent).where(*conditions, AuditEvent.actor_user_id == person),
                    AuditEvent.seq,
                    ascending,
                )
                .limit(take)
                .subquery()
            )
            for person in self.people
        ]
        merged = aliased(AuditEvent, sa.union_all(*walks).subquery())
        query = _in_order(sa.select(merged), merged.seq, ascending).limit(take)
        return list(self.session.scalars(query))


def _in_order(query: Select[Any], seq: QueryableAttribute[int], ascending: bool) -> Select[Any]:
    return query.order_by(seq.asc() if ascending else seq.desc())


@dataclass(frozen=True)
class _Names:
    people: dict[uuid.UUID, tuple[str, str | None, uuid.UUID]]
    organisations: dict[uuid.UUID, str]

    @classmethod
    def load(
        cls, session: Session, actors: Iterable[tuple[uuid.UUID | None, uuid.UUID | None]]
    ) -> _Names:
        user_ids: set[uuid.UUID] = set()
        organisation_ids: set[uuid.UUID] = set()
        for user_id, organisation_id in actors:
            if user_id is not None:
                user_ids.add(user_id)
            if organisation_id is not None:
                organisation_ids.add(organisation_id)
        people = {
            row.id: (row.display_name, row.email, row.organisation_id)
            for row in session.execute(
                sa.select(User.id, User.display_name, User.email, User.organisation_id).where(
                    User.id.in_(user_ids)
                )
            )
        }
        organisation_ids.update(organisation for _, _, organisation in people.values())
        names = {
            row.id: row.name
            for row in session.execute(
                sa.select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_(organisation_ids)
                )
            )
        }
        return cls(people, names)

    def who(self, user_id: uuid.UUID | None, organisation_id: uuid.UUID | None) -> Who:
        # The organisation the event recorded; a person's own only if the event has none.
        person = self.people.get(user_id) if user_id is not None else None
        if organisation_id is None and person is not None:
            organisation_id = person[2]
        organisation = (
            "None"
            if organisation_id is None
            else self.organisations.get(organisation_id, str(organisation_id))
        )
        if user_id is None:
            return Who(None, "The portal itself", None, organisation)
        if person is None:
            return Who(user_id, str(user_id), None, organisation)
        return Who(user_id, person[0], person[1], organisation)
