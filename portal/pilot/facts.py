"""The SQL both ways of computing the figures share (portal/pilot/windowed.py, portable, and
portal/pilot/ordered.py, PostgreSQL's): each request's facts, one row per request in the
filter, and the counts and feedback of each group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.lifecycle import RequestStatus
from portal.models import (
    ChildConfirmation,
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
from portal.pilot.measures import Filters

_R = RequestStatus


@dataclass(frozen=True)
class Grouped:
    """How a query over the facts (or rows carrying their group columns) is grouped: the
    group's number (labelled "group"), what to group by, and the group's key and kind."""

    group: Any
    by: Sequence[Any]
    key: Any
    kind: Any


def numbered_organisations() -> Any:
    """Every organisation with a number (1, 2, … by id), to group by an integer."""
    return sa.select(
        Organisation.id, sa.func.row_number().over(order_by=Organisation.id).label("number")
    ).subquery("numbered")


def month_number(month: Any) -> Any:
    """'YYYY-MM' as year × 12 + month."""
    return sa.cast(sa.func.substr(month, 1, 4), sa.Integer) * 12 + sa.cast(
        sa.func.substr(month, 6, 2), sa.Integer
    )


def kind_number() -> Any:
    return sa.case(*((Organisation.kind == k, n) for n, k in enumerate(OrganisationKind)), else_=0)


def month_of_issue() -> Any:
    return uk_month(DelegationRequest.issued_at)


def kind_text() -> Any:
    return sa.cast(Organisation.kind, sa.String)


# The moments whose time from issue is measured, in the order of Step.
MOMENTS = ("opened_at", "sent_at", "accepted_at", "delivered_at")


def _in_filter(filters: Filters) -> list[Any]:
    r = DelegationRequest
    chosen = [r.issued_at >= filters.period.starts_at, r.issued_at < filters.period.ends_at]
    if filters.kind is not None:
        chosen.append(Organisation.kind == filters.kind)
    if filters.organisation_id is not None:
        chosen.append(r.partner_organisation_id == filters.organisation_id)
    return chosen


def _steps(filters: Filters) -> Any:
    """When each request's steps first happened, from its versions and their reviews: for
    the requests in the filter only."""
    c, r = Contribution, DelegationRequest
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
        .join(r, r.id == c.request_id)
        .join(Organisation, Organisation.id == r.partner_organisation_id)
        .outerjoin(Review, Review.contribution_id == c.id)
        .where(c.submitted_at.is_not(None), *_in_filter(filters))
        .group_by(c.request_id)
        .subquery("steps")
    )


def request_facts(filters: Filters, grouping: Sequence[Any], joined: Sequence[Any]) -> Any:
    """One row per request in the filter (per request and grouping when `joined` multiplies
    them): the `grouping` columns, when each step first happened, and the seconds from issue
    to each (seconds_0, … in the order of Step; null if not reached). `joined`: (selectable,
    on clause) pairs joined to the requests and their organisation."""
    steps = _steps(filters)
    r = DelegationRequest
    moments = {
        name: RequestOpening.opened_at if name == "opened_at" else steps.c[name] for name in MOMENTS
    }
    query = sa.select(
        r.id,
        *grouping,
        r.partner_organisation_id.label("organisation_id"),
        r.status,
        r.issued_at,
        r.due_on,
        *(moment.label(name) for name, moment in moments.items()),
        *(
            seconds_between(r.issued_at, moment).label(f"seconds_{number}")
            for number, moment in enumerate(moments.values())
        ),
        sa.func.coalesce(steps.c.returns, 0).label("returns"),
        OfflineAnswer.request_id.is_not(None).label("elsewhere"),
        # Opened, even without a recorded opening (a partner who went straight to the
        # children or the answers; requests from before openings were recorded).
        sa.or_(
            RequestOpening.request_id.is_not(None),
            steps.c.sent_at.is_not(None),
            sa.exists().where(ChildConfirmation.request_id == r.id),
        ).label("was_opened"),
        # Worked out once per request, not once per group it counts in.
        sa.case((uk_day(steps.c.sent_at) <= r.due_on, 1), else_=0).label("by_due"),
    ).join(Organisation, Organisation.id == r.partner_organisation_id)
    for selectable, on in joined:
        query = query.join(selectable, on)
    query = (
        query.outerjoin(RequestOpening, RequestOpening.request_id == r.id)
        .outerjoin(OfflineAnswer, OfflineAnswer.request_id == r.id)
        .outerjoin(steps, steps.c.request_id == r.id)
        .where(*_in_filter(filters))
    )
    return query.cte("facts")


def _count(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def counts(facts: Any, today: date, grouped: Grouped, *more: Any) -> sa.Select[Any]:
    """Each group's counts (and `more` aggregates over the facts)."""
    f = facts.c
    answered = f.sent_at.is_not(None)
    closed_unanswered = f.status.in_([_R.REVOKED, _R.CHILD_NOT_KNOWN])
    query = sa.select(
        grouped.group,
        grouped.key.label("key"),
        grouped.kind.label("kind"),
        sa.func.count().label("issued"),
        _count(f.was_opened).label("opened"),
        _count(answered).label("answered"),
        _count(f.returns > 0).label("returned"),
        sa.func.coalesce(sa.func.sum(f.returns), 0).label("returns"),
        _count(f.status.in_([_R.ACCEPTED, _R.DELIVERED])).label("accepted"),
        _count(f.status == _R.REJECTED).label("rejected"),
        _count(sa.and_(f.status == _R.REVOKED, sa.not_(f.elsewhere))).label("withdrawn"),
        _count(f.status == _R.CHILD_NOT_KNOWN).label("not_this_child"),
        _count(f.elsewhere).label("answered_elsewhere"),
        _count(sa.and_(answered, f.elsewhere)).label("answered_both_ways"),
        sa.func.coalesce(sa.func.sum(f.by_due), 0).label("answered_by_due"),
        _count(sa.or_(answered, sa.and_(f.due_on < today, sa.not_(closed_unanswered)))).label(
            "due_or_answered"
        ),
        sa.func.count(sa.distinct(f.organisation_id)).label("active_organisations"),
        *more,
    ).group_by(*grouped.by)
    # The total of no requests is no group (grouping by nothing gives a row even then).
    return query.having(sa.func.count() > 0)


def feedback(facts: Any, grouped: Grouped) -> sa.Select[Any]:
    return (
        sa.select(
            grouped.group,
            sa.func.count().label("responses"),
            _count(Feedback.rating >= 4).label("satisfied"),
        )
        .select_from(Feedback)
        .join(Contribution, Contribution.id == Feedback.contribution_id)
        .join(facts, facts.c.id == Contribution.request_id)
        .group_by(*grouped.by)
    )


def people_acting(facts: Any, columns: Sequence[str], union: Any) -> Any:
    """Partner people who opened a request or sent a version of one, with the request's
    `columns`; `union` is sa.union (distinct rows) or sa.union_all."""
    f = facts.c
    kept = [f[name] for name in columns]
    return union(
        sa.select(*kept, RequestOpening.opened_by_id.label("person")).join(
            RequestOpening, RequestOpening.request_id == f.id
        ),
        sa.select(*kept, Contribution.submitted_by_id.label("person")).join(
            Contribution, Contribution.request_id == f.id
        ),
    ).subquery("acted")


def combined(counted: Any, given: Any, acted: Any, *more: Any) -> sa.Select[Any]:
    """The groups' counts with their feedback and people (and `more` columns)."""
    return (
        sa.select(
            counted,
            given.c.responses,
            given.c.satisfied,
            acted.c.people.label("active_people"),
            *more,
        )
        .outerjoin(given, given.c.group == counted.c.group)
        .outerjoin(acted, acted.c.group == counted.c.group)
    )
