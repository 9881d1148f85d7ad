"""The pilot's figures, computed by the database from the portal's own records with SQL
aggregates (docs/pilot.md defines each measure).

Every figure is about the requests issued in a UK month (a cohort): what became of them, and
how long each step took. Medians and 90th percentiles interpolate linearly between the two
nearest values, as PostgreSQL's percentile_cont does. On PostgreSQL they are computed with it
and every grouping at once with GROUPING SETS (portal/pilot/ordered.py); on SQLite, the demo's
database, with window functions (portal/pilot/windowed.py), which give the same figures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from portal.pilot import ordered, windowed
from portal.pilot.measures import (
    COUNTED,
    GROUPINGS,
    MEDIAN,
    NINETIETH,
    SPAN,
    STEPS,
    Filters,
    Grouping,
    Row,
    Step,
    Times,
)

__all__ = ["MEDIAN", "NINETIETH", "Filters", "Grouping", "Row", "Step", "Times"]


def figures_by(
    session: Session,
    filters: Filters,
    today: date,
    groupings: Iterable[Grouping],
    portable: bool | None = None,
) -> dict[Grouping, list[Row]]:
    """The figures for each group of each grouping, in the group's order (months oldest
    first, names A to Z): one statement however many groupings. `portable`: the window
    functions' way even on PostgreSQL (by default, only where percentile_cont is missing)."""
    wanted = tuple(groupings)
    if portable is None:
        portable = session.get_bind().dialect.name != "postgresql"
    way = windowed if portable else ordered
    found: dict[Grouping, list[Row]] = {grouping: [] for grouping in wanted}
    for figured in session.execute(way.everything(filters, wanted, today)).mappings():
        found[GROUPINGS[figured["group"] // SPAN]].append(_row(figured))
    for rows in found.values():
        rows.sort(key=lambda row: row.key)
    return found


def _row(figured: Any) -> Row:
    row = Row(figured["key"], figured["kind"])
    for name in COUNTED:
        setattr(row, name, int(figured[name] or 0))
    for number, step in enumerate(STEPS):
        measured = figured[f"measured_{number}"]
        if measured:
            row.times[step] = Times(
                int(measured),
                float(figured[f"median_{number}"]),
                float(figured[f"ninetieth_{number}"]),
            )
    return row
