"""The pilot's figures, computed by the database from the portal's own records with SQL
aggregates that run on PostgreSQL and SQLite alike (docs/pilot.md defines each measure).

Every figure is about the requests issued in a UK month (a cohort): what became of them, and
how long each step took. Medians and 90th percentiles are computed with window functions and
linear interpolation between the two nearest values, as PostgreSQL's percentile_cont does,
with integer arithmetic for the positions so that both databases agree to the second."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.lifecycle import RequestStatus
from portal.models import (
    Contribution,
    DelegationRequest,
    Feedback,
    OfflineAnswer,
    Organisation,
    OrganisationKind,
    RequestOpening,
    Review,
)
from portal.models.contributions import ReviewDecision
from portal.pilot.dialect import seconds_between, uk_day, uk_month
from portal.pilot.periods import Period

_R = RequestStatus


class Grouping(enum.StrEnum):
    TOTAL = "total"
    MONTH = "month"
    ORGANISATION = "organisation"
    KIND = "kind"


class Step(enum.StrEnum):
    """The steps whose time from issue is measured."""

    OPENED = "opened"
    SENT = "sent"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"


# The quantiles, as integer fractions: positions are computed without floating point.
MEDIAN = (1, 2)
NINETIETH = (9, 10)


@dataclass(frozen=True)
class Filters:
    period: Period
    kind: OrganisationKind | None = None
    organisation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Times:
    """Seconds from issue to a step: over `measured` requests that reached it."""

    measured: int
    median: float
    ninetieth: float


@dataclass
class Row:
    """The figures for one group: a month, an organisation, a kind, or all of them."""

    key: str
    kind: str = ""
    issued: int = 0
    opened: int = 0
    answered: int = 0
    returned: int = 0  # requests returned for more information at least once
    returns: int = 0  # every return, for returns per request
    accepted: int = 0
    rejected: int = 0
    withdrawn: int = 0  # excluding those answered outside the portal
    not_this_child: int = 0
    answered_elsewhere: int = 0
    answered_by_due: int = 0
    due_or_answered: int = 0  # the share answered by the due date's denominator
    active_organisations: int = 0
    active_people: int = 0
    responses: int = 0
    satisfied: int = 0
    times: dict[Step, Times] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return self.answered + self.not_this_child


def figures(session: Session, filters: Filters, grouping: Grouping, today: date) -> list[Row]:
    """The figures for each group of one grouping."""
    return figures_by(session, filters, today, (grouping,))[grouping]


def figures_by(
    session: Session, filters: Filters, today: date, groupings: Iterable[Grouping]
) -> dict[Grouping, list[Row]]:
    """The figures for each group of each grouping, in the group's order (months oldest
    first, names A to Z): one statement however many groupings, reading the requests once
    (every request stands once in each grouping asked for)."""
    wanted = tuple(groupings)
    found: dict[Grouping, list[Row]] = {grouping: [] for grouping in wanted}
    for figured in session.execute(_everything(_facts(filters, wanted, today), today)).mappings():
        found[_GROUPINGS[figured["group"] // _SPAN]].append(_row(figured))
    for rows in found.values():
        rows.sort(key=lambda row: row.key)
    return found


def _row(figured: Any) -> Row:
    row = Row(figured["key"], figured["kind"])
    for name in _COUNTED:
        setattr(row, name, int(figured[name] or 0))
    for number, step in enumerate(_STEPS):
        measured = figured[f"measured_{number}"]
        if measured:
            row.times[step] = Times(
                int(measured),
                float(figured[f"median_{number}"]),
                float(figured[f"ninetieth_{number}"]),
            )
    return row


def _everything(facts: Any, today: date) -> sa.Select[Any]:
    """The counts, feedback, people and times of each group in one statement, so that the
    database works out the requests' facts once (a CTE used several times is computed once)."""
    counts = _counts(facts, today).subquery("counts")
    given = _feedback(facts).subquery("given")
    acted = _people(facts).subquery("acted")
    timed = _times(facts).subquery("timed")
    pivot = (
        sa.select(
            timed.c.group,
            *(
                sa.func.max(sa.case((timed.c.step == number, timed.c[name]))).label(
                    f"{name}_{number}"
                )
                for number in range(len(_STEPS))
                for name in ("measured", "median", "ninetieth")
            ),
        )
        .group_by(timed.c.group)
        .subquery("times")
    )
    return (
        sa.select(
            counts,
            given.c.responses,
            given.c.satisfied,
            acted.c.people.label("active_people"),
            *(column for column in pivot.c if column.name != "group"),
        )
        .outerjoin(given, given.c.group == counts.c.group)
        .outerjoin(acted, acted.c.group == counts.c.group)
        .outerjoin(pivot, pivot.c.group == counts.c.group)
    )


_GROUPINGS = tuple(Grouping)
_STEPS = tuple(Step)
_COUNTED = (
    "issued",
    "opened",
    "answered",
    "returned",
    "returns",
    "accepted",
    "rejected",
    "withdrawn",
    "not_this_child",
    "answered_elsewhere",
    "answered_by_due",
    "due_or_answered",
    "active_organisations",
    "active_people",
    "responses",
    "satisfied",
)
# A group's number: its grouping's position × _SPAN + its number within the grouping (a
# month's, an organisation's or a kind's). The figures' sorts and windows then compare one
# integer, not text: several times faster at the bench's volumes (docs/pilot.md).
_SPAN = 10_000_000


def _group_keys(groupings: tuple[Grouping, ...]) -> tuple[Any, Any, Any, Any]:
    """Each request once in each grouping: a row per grouping asked for, joined to every
    request; the request's group number, key and kind in that grouping; and the
    organisations' numbers (by name) to join."""
    chosen = sa.union_all(
        *(sa.select(sa.literal(_GROUPINGS.index(g)).label("grouping")) for g in groupings)
    ).subquery("groupings")
    numbered = sa.select(
        Organisation.id, sa.func.row_number().over(order_by=Organisation.id).label("number")
    ).subquery("numbered")
    position = chosen.c.grouping
    month = uk_month(DelegationRequest.issued_at)
    kind = sa.cast(Organisation.kind, sa.String)

    def at(grouping: Grouping) -> Any:
        return position == _GROUPINGS.index(grouping)

    month_number = sa.cast(sa.func.substr(month, 1, 4), sa.Integer) * 12 + sa.cast(
        sa.func.substr(month, 6, 2), sa.Integer
    )
    kind_number = sa.case(
        *((Organisation.kind == k, n) for n, k in enumerate(OrganisationKind)), else_=0
    )
    number = sa.case(
        (at(Grouping.MONTH), month_number),
        (at(Grouping.ORGANISATION), numbered.c.number),
        (at(Grouping.KIND), kind_number),
        else_=0,
    )
    key = sa.case(
        (at(Grouping.MONTH), month),
        (at(Grouping.ORGANISATION), Organisation.name),
        (at(Grouping.KIND), kind),
        else_=sa.literal_column("'all'"),
    )
    shown_kind = sa.case((at(Grouping.ORGANISATION), kind), else_=sa.literal_column("''"))
    group = (position * _SPAN + number).label("group")
    return (chosen, numbered), group, key, shown_kind


def _steps() -> Any:
    """When each request's steps first happened, from its versions and their reviews."""
    c = Contribution
    return (
        sa.select(
            c.request_id,
            sa.func.min(c.submitted_at).label("sent_at"),
            sa.func.min(c.delivered_at).label("delivered_at"),
            sa.func.min(
                sa.case((Review.decision == ReviewDecision.ACCEPTED, Review.decided_at))
            ).label("accepted_at"),
            sa.func.sum(sa.case((Review.decision == ReviewDecision.RETURNED, 1), else_=0)).label(
                "returns"
            ),
        )
        .outerjoin(Review, Review.contribution_id == c.id)
        .where(c.submitted_at.is_not(None))
        .group_by(c.request_id)
        .subquery("steps")
    )


def _facts(filters: Filters, groupings: tuple[Grouping, ...], today: date) -> Any:
    """One row per request in the filter: its group, and when each step first happened."""
    steps = _steps()
    (chosen, numbered), group, key, kind = _group_keys(groupings)
    r = DelegationRequest
    query = (
        sa.select(
            r.id,
            group,
            key.label("key"),
            kind.label("kind"),
            r.partner_organisation_id.label("organisation_id"),
            r.status,
            r.issued_at,
            r.due_on,
            RequestOpening.opened_at,
            steps.c.sent_at,
            steps.c.accepted_at,
            steps.c.delivered_at,
            sa.func.coalesce(steps.c.returns, 0).label("returns"),
            OfflineAnswer.request_id.is_not(None).label("elsewhere"),
        )
        .join(Organisation, Organisation.id == r.partner_organisation_id)
        .join(numbered, numbered.c.id == r.partner_organisation_id)
        .join(chosen, sa.true())
        .outerjoin(RequestOpening, RequestOpening.request_id == r.id)
        .outerjoin(OfflineAnswer, OfflineAnswer.request_id == r.id)
        .outerjoin(steps, steps.c.request_id == r.id)
        .where(r.issued_at >= filters.period.starts_at, r.issued_at < filters.period.ends_at)
    )
    if filters.kind is not None:
        query = query.where(Organisation.kind == filters.kind)
    if filters.organisation_id is not None:
        query = query.where(r.partner_organisation_id == filters.organisation_id)
    return query.cte("facts")


def _count(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _counts(facts: Any, today: date) -> sa.Select[Any]:
    f = facts.c
    answered = f.sent_at.is_not(None)
    closed_unanswered = f.status.in_([_R.REVOKED, _R.CHILD_NOT_KNOWN])
    return sa.select(
        f.group,
        sa.func.max(f.key).label("key"),
        sa.func.max(f.kind).label("kind"),
        sa.func.count().label("issued"),
        _count(f.opened_at.is_not(None)).label("opened"),
        _count(answered).label("answered"),
        _count(f.returns > 0).label("returned"),
        sa.func.coalesce(sa.func.sum(f.returns), 0).label("returns"),
        _count(f.status.in_([_R.ACCEPTED, _R.DELIVERED])).label("accepted"),
        _count(f.status == _R.REJECTED).label("rejected"),
        _count(sa.and_(f.status == _R.REVOKED, sa.not_(f.elsewhere))).label("withdrawn"),
        _count(f.status == _R.CHILD_NOT_KNOWN).label("not_this_child"),
        _count(f.elsewhere).label("answered_elsewhere"),
        _count(sa.and_(answered, uk_day(f.sent_at) <= f.due_on)).label("answered_by_due"),
        _count(sa.or_(answered, sa.and_(f.due_on < today, sa.not_(closed_unanswered)))).label(
            "due_or_answered"
        ),
        sa.func.count(sa.distinct(f.organisation_id)).label("active_organisations"),
    ).group_by(f.group)


def _feedback(facts: Any) -> sa.Select[Any]:
    f = facts.c
    return (
        sa.select(
            f.group,
            sa.func.count().label("responses"),
            _count(Feedback.rating >= 4).label("satisfied"),
        )
        .select_from(Feedback)
        .join(Contribution, Contribution.id == Feedback.contribution_id)
        .join(facts, f.id == Contribution.request_id)
        .group_by(f.group)
    )


def _people(facts: Any) -> sa.Select[Any]:
    """Partner people who opened a request of the group or sent a version of one."""
    f = facts.c
    acted = sa.union(
        sa.select(f.group, RequestOpening.opened_by_id.label("person")).join(
            RequestOpening, RequestOpening.request_id == f.id
        ),
        sa.select(f.group, Contribution.submitted_by_id.label("person")).join(
            Contribution, Contribution.request_id == f.id
        ),
    ).subquery("acted")
    return (
        sa.select(acted.c.group, sa.func.count().label("people"))
        .where(acted.c.person.is_not(None))
        .group_by(acted.c.group)
    )


def _times(facts: Any) -> sa.Select[Any]:
    """Median and 90th percentile of each step's time from issue, per group."""
    f = facts.c
    moments = {
        Step.OPENED: f.opened_at,
        Step.SENT: f.sent_at,
        Step.ACCEPTED: f.accepted_at,
        Step.DELIVERED: f.delivered_at,
    }
    durations = sa.union_all(
        *(
            sa.select(
                sa.literal(_STEPS.index(step)).label("step"),
                f.group,
                seconds_between(f.issued_at, moment).label("seconds"),
            ).where(moment.is_not(None))
            for step, moment in moments.items()
        )
    ).subquery("durations")
    d = durations.c
    partition = (d.group, d.step)
    ranked = sa.select(
        d.group,
        d.step,
        d.seconds,
        (sa.func.row_number().over(partition_by=partition, order_by=d.seconds) - 1).label(
            "position"
        ),
        sa.func.count().over(partition_by=partition).label("measured"),
    ).subquery("ranked")
    k = ranked.c
    return sa.select(
        k.group,
        k.step,
        sa.func.max(k.measured).label("measured"),
        sa.func.sum(_share_of(k, *MEDIAN)).label("median"),
        sa.func.sum(_share_of(k, *NINETIETH)).label("ninetieth"),
    ).group_by(k.group, k.step)


def _share_of(ranked: Any, numerator: int, denominator: int) -> Any:
    """What one ranked value contributes to a quantile: the quantile sits at position
    h = (n - 1) × q, between the values at floor(h) and floor(h) + 1, weighted by how far."""
    scaled = (ranked.measured - 1) * numerator
    lower = scaled // denominator
    weight = sa.cast(scaled % denominator, sa.Float) / denominator
    return sa.case(
        (ranked.position == lower, ranked.seconds * (1 - weight)),
        (ranked.position == lower + 1, ranked.seconds * weight),
        else_=0.0,
    )
