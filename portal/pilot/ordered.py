"""The figures on PostgreSQL: each request's facts worked out once (one row per request) and
every grouping computed in one pass with GROUPING SETS; the medians and 90th percentiles with
PostgreSQL's ordered-set aggregate percentile_cont, which interpolates linearly between the
two nearest values, as the portable window functions (portal/pilot/windowed.py) do."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from portal.models import Organisation
from portal.pilot import facts as shared
from portal.pilot.measures import GROUPINGS, MEDIAN, NINETIETH, SPAN, STEPS, Filters, Grouping

# The column each grouping groups by (the total groups by nothing), and its key's column.
_NUMBERS = {
    Grouping.MONTH: "month_group",
    Grouping.ORGANISATION: "organisation_group",
    Grouping.KIND: "kind_group",
}
_KEYS = {Grouping.MONTH: "month", Grouping.ORGANISATION: "name", Grouping.KIND: "kind_name"}


def everything(filters: Filters, groupings: tuple[Grouping, ...], today: date) -> sa.Select[Any]:
    """The counts, feedback, people and times of each group of the groupings, in one
    statement: the counts and times in one aggregate over the facts."""
    facts = _facts(filters)
    counted = shared.counts(
        facts, today, _grouped(facts.c, groupings, keyed=True), *_times(facts.c)
    ).subquery("counts")
    given = shared.feedback(facts, _grouped(facts.c, groupings)).subquery("given")
    # Distinct (groups, person) first: a few thousand rows to count, not every action.
    acted = shared.people_acting(facts, tuple(_NUMBERS.values()), sa.union)
    by_group = _grouped(acted.c, groupings)
    people = (
        sa.select(by_group.group, sa.func.count(sa.distinct(acted.c.person)).label("people"))
        .group_by(*by_group.by)
        .subquery("people")
    )
    return shared.combined(counted, given, people)


def _facts(filters: Filters) -> Any:
    """One row per request: its group number in each grouping, and the groups' keys."""
    numbered = shared.numbered_organisations()
    month = shared.month_of_issue()
    columns = (
        (GROUPINGS.index(Grouping.MONTH) * SPAN + shared.month_number(month)).label("month_group"),
        (GROUPINGS.index(Grouping.ORGANISATION) * SPAN + numbered.c.number).label(
            "organisation_group"
        ),
        (GROUPINGS.index(Grouping.KIND) * SPAN + shared.kind_number()).label("kind_group"),
        month.label("month"),
        Organisation.name.label("name"),
        shared.kind_text().label("kind_name"),
    )
    return shared.request_facts(filters, columns, ((numbered, numbered.c.id == Organisation.id),))


def _grouped(c: Any, groupings: tuple[Grouping, ...], keyed: bool = False) -> shared.Grouped:
    """Grouping sets, one per grouping; a group's number is that of the grouping's column
    (the others are null in its rows), or 0 for the total. `keyed`: the groups' keys and
    kinds from the facts' columns (else none)."""
    numbered = [g for g in groupings if g in _NUMBERS]
    sets = [sa.tuple_(c[_NUMBERS[g]]) if g in _NUMBERS else sa.text("()") for g in groupings]
    group = sa.func.coalesce(*(c[_NUMBERS[g]] for g in numbered), 0).label("group")
    everyone: Any = sa.literal_column("'all'")
    key: Any = everyone
    if keyed and numbered:
        key = sa.case(
            *((c[_NUMBERS[g]].is_not(None), sa.func.max(c[_KEYS[g]])) for g in numbered),
            else_=everyone,
        )
    kind: Any = sa.literal_column("''")
    if keyed and Grouping.ORGANISATION in numbered:
        kind = sa.case((c.organisation_group.is_not(None), sa.func.max(c.kind_name)), else_=kind)
    return shared.Grouped(group, (sa.func.grouping_sets(*sets),), key, kind)


def _times(f: Any) -> list[Any]:
    """Each step's count, median and 90th percentile of the seconds from issue to it
    (percentile_cont leaves out the requests that did not reach it: nulls)."""
    columns = []
    for number in range(len(STEPS)):
        seconds = f[f"seconds_{number}"]
        columns.append(sa.func.count(seconds).label(f"measured_{number}"))
        for name, (numerator, denominator) in (("median", MEDIAN), ("ninetieth", NINETIETH)):
            quantile = sa.func.percentile_cont(numerator / denominator).within_group(seconds)
            columns.append(quantile.label(f"{name}_{number}"))
    return columns
