"""The figures with window functions, on any database (SQLite, the demo's, has no ordered-set
aggregates): each request joined to one row per grouping asked for, and each step's durations
numbered in order within their group to find the median and 90th percentile by linear
interpolation, with integer arithmetic for the positions (docs/pilot.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.models import Organisation
from portal.pilot import facts as shared
from portal.pilot.measures import GROUPINGS, MEDIAN, NINETIETH, SPAN, STEPS, Filters, Grouping


def everything(filters: Filters, groupings: tuple[Grouping, ...], today: date) -> sa.Select[Any]:
    """The counts, feedback, people and times of each group of the groupings, in one statement
    (a CTE used several times is computed once)."""
    facts = _facts(filters, groupings)
    f = facts.c
    grouped = shared.Grouped(f.group, (f.group,), sa.func.max(f.key), sa.func.max(f.kind))
    counted = shared.counts(facts, today, grouped).subquery("counts")
    given = shared.feedback(facts, grouped).subquery("given")
    acted = shared.people_acting(facts, ("group",), sa.union)
    people = (
        sa.select(acted.c.group, sa.func.count().label("people"))
        .where(acted.c.person.is_not(None))
        .group_by(acted.c.group)
        .subquery("people")
    )
    pivot = _pivot(_times(facts))
    return shared.combined(
        counted, given, people, *(column for column in pivot.c if column.name != "group")
    ).outerjoin(pivot, pivot.c.group == counted.c.group)


def _facts(filters: Filters, groupings: tuple[Grouping, ...]) -> Any:
    """Each request once in each grouping: a row per grouping asked for, joined to every
    request, with the request's group number, key and kind in that grouping."""
    chosen = sa.union_all(
        *(sa.select(sa.literal(GROUPINGS.index(g)).label("grouping")) for g in groupings)
    ).subquery("groupings")
    numbered = shared.numbered_organisations()
    position = chosen.c.grouping
    month = shared.month_of_issue()
    kind = shared.kind_text()

    def at(grouping: Grouping) -> Any:
        return position == GROUPINGS.index(grouping)

    number = sa.case(
        (at(Grouping.MONTH), shared.month_number(month)),
        (at(Grouping.ORGANISATION), numbered.c.number),
        (at(Grouping.KIND), shared.kind_number()),
        else_=0,
    )
    key = sa.case(
        (at(Grouping.MONTH), month),
        (at(Grouping.ORGANISATION), Organisation.name),
        (at(Grouping.KIND), kind),
        else_=sa.literal_column("'all'"),
    )
    shown_kind = sa.case((at(Grouping.ORGANISATION), kind), else_=sa.literal_column("''"))
    group = (position * SPAN + number).label("group")
    columns = (group, key.label("key"), shown_kind.label("kind"))
    joined = (
        (numbered, numbered.c.id == Organisation.id),
        (chosen, sa.true()),
    )
    return shared.request_facts(filters, columns, joined)


def _times(facts: Any) -> Any:
    """Median and 90th percentile of each step's time from issue, per group."""
    f = facts.c
    durations = sa.union_all(
        *(
            sa.select(
                sa.literal(number).label("step"),
                f.group,
                f[f"seconds_{number}"].label("seconds"),
            ).where(f[f"seconds_{number}"].is_not(None))
            for number in range(len(STEPS))
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


def _pivot(timed: Any) -> Any:
    """One row per group, with each step's three numbers as columns (measured_0, …)."""
    t = timed.subquery("timed").c
    return (
        sa.select(
            t.group,
            *(
                sa.func.max(sa.case((t.step == number, t[name]))).label(f"{name}_{number}")
                for number in range(len(STEPS))
                for name in ("measured", "median", "ninetieth")
            ),
        )
        .group_by(t.group)
        .subquery("times")
    )


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
