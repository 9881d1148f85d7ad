"""The figures as the page, the CSV and the spreadsheet show them: one set of columns, and
the small-number suppression applied once, here, so that all three hold the same numbers.

Counts of requests and of feedback responses under [pilot] suppress_below are "fewer than N";
a rate is shown only when its numerator and denominator would both be shown and they differ
by none or by at least as many (so that it never reveals a count the tables hide); a time
only when at least that many requests reached the step (docs/pilot.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from portal.pilot.figures import Row, Step

HOUR = 3600.0


@dataclass(frozen=True)
class Cell:
    """One value: `number` for charts and spreadsheets, None when it is held back."""

    number: float | None
    text: str

    @property
    def exported(self) -> float | str:
        return self.text if self.number is None else self.number


@dataclass(frozen=True)
class Column:
    name: str  # the heading on the page and in the exports
    value: Callable[[Row, int], Cell]
    unit: str = ""


def _count(field: str) -> Callable[[Row, int], Cell]:
    def value(row: Row, threshold: int) -> Cell:
        return count_cell(getattr(row, field), threshold)

    return value


def count_cell(number: int, threshold: int) -> Cell:
    if number < threshold:
        return Cell(None, f"fewer than {threshold}")
    return Cell(number, f"{number:,}")


def _plain(field: str) -> Callable[[Row, int], Cell]:
    """Counts of organisations and people: staff, not children; never held back."""

    def value(row: Row, _threshold: int) -> Cell:
        number = getattr(row, field)
        return Cell(number, f"{number:,}")

    return value


def _rate(
    numerator: Callable[[Row], int], denominator: Callable[[Row], int]
) -> Callable[[Row, int], Cell]:
    def value(row: Row, threshold: int) -> Cell:
        top, bottom = numerator(row), denominator(row)
        rest = bottom - top  # what the rate also reveals: 3 of 43 is 40 of 43 turned round
        if top < threshold or bottom < threshold or 0 < rest < threshold:
            return Cell(None, "not shown")
        percent = round(100 * top / bottom)
        return Cell(percent, f"{percent}%")

    return value


def _returns_per_request(row: Row, threshold: int) -> Cell:
    if row.returns < threshold or row.answered < threshold:
        return Cell(None, "not shown")
    ratio = round(row.returns / row.answered, 2)
    return Cell(ratio, f"{ratio:.2f}")


def _time(step: Step, ninetieth: bool) -> Callable[[Row, int], Cell]:
    def value(row: Row, threshold: int) -> Cell:
        times = row.times.get(step)
        if times is None or times.measured < threshold:
            return Cell(None, "not shown")
        hours = round((times.ninetieth if ninetieth else times.median) / HOUR, 1)
        return Cell(hours, f"{hours:,.1f}")

    return value


STEP_NAMES = {
    Step.OPENED: "first opened",
    Step.SENT: "first answer sent",
    Step.ACCEPTED: "accepted",
    Step.DELIVERED: "in the case management system",
}

COUNTS = (
    Column("Requests issued", _count("issued")),
    Column("Opened by the partner", _count("opened")),
    Column("Answered in the portal", _count("answered")),
    Column("Returned for more information", _count("returned")),
    Column("Accepted", _count("accepted")),
    Column("Rejected", _count("rejected")),
    Column("Withdrawn", _count("withdrawn")),
    Column("Declined: not this child", _count("not_this_child")),
    Column("Answered outside the portal", _count("answered_elsewhere")),
)

RATES = (
    Column(
        "Answered by the due date",
        _rate(lambda r: r.answered_by_due, lambda r: r.due_or_answered),
        "%",
    ),
    Column("Returns per request answered", _returns_per_request),
    Column("Completion rate", _rate(lambda r: r.completed, lambda r: r.opened), "%"),
    Column("User satisfaction", _rate(lambda r: r.satisfied, lambda r: r.responses), "%"),
    Column(
        "Digital take-up",
        _rate(lambda r: r.answered, lambda r: r.answered + r.answered_elsewhere),
        "%",
    ),
    Column("Feedback responses", _count("responses")),
    Column("Active organisations", _plain("active_organisations")),
    Column("Active people at partners", _plain("active_people")),
)

TIMES = tuple(
    Column(
        f"{'90th percentile' if ninetieth else 'Median'} hours to {name}",
        _time(step, ninetieth),
        "hours",
    )
    for step, name in STEP_NAMES.items()
    for ninetieth in (False, True)
)

COLUMNS = COUNTS + RATES + TIMES


@dataclass(frozen=True)
class ShownRow:
    label: str
    kind: str
    cells: dict[str, Cell]


def shown(rows: list[Row], threshold: int, label: Callable[[Row], str]) -> list[ShownRow]:
    return [
        ShownRow(
            label(row),
            row.kind,
            {column.name: column.value(row, threshold) for column in COLUMNS},
        )
        for row in rows
    ]


# What each figure means, on the page and in docs/pilot.md (which says more).
DEFINITIONS = (
    (
        "Requests issued",
        "Requests a social worker sent to the organisation in the month (UK time).",
    ),
    (
        "Opened by the partner",
        "Of those, requests someone at the organisation opened at least once.",
    ),
    (
        "Answered in the portal",
        "Requests for which the partner sent at least one version of its answers.",
    ),
    ("Returned for more information", "Requests the social worker returned at least once."),
    (
        "Accepted",
        "Requests whose answers were accepted (including those since delivered into the "
        "case management system).",
    ),
    ("Rejected", "Requests whose answers were rejected."),
    (
        "Withdrawn",
        "Requests the social worker withdrew, not counting those answered outside the portal.",
    ),
    ("Declined: not this child", "Requests closed because the partner did not know the child."),
    (
        "Answered outside the portal",
        "Requests a social worker recorded as answered another way (and withdrew).",
    ),
    (
        "Answered by the due date",
        "Requests whose first answer was sent by the end of the due date (UK), out of "
        "those answered or past their due date and not closed without an answer.",
    ),
    (
        "Returns per request answered",
        "Every return for more information, divided by the requests answered.",
    ),
    ("Completion rate", "Requests answered or declined as not this child, out of those opened."),
    (
        "User satisfaction",
        "Feedback answers 'satisfied' or 'very satisfied', out of all feedback given on "
        "answers sent.",
    ),
    (
        "Digital take-up",
        "Requests answered in the portal, out of those answered in the portal or outside it.",
    ),
    (
        "Active organisations and people",
        "Organisations that received a request; people at them who opened one or sent answers.",
    ),
    (
        "Hours to each step",
        "From issue to the first opening, the first answer sent, acceptance and delivery "
        "into the case management system: the median (half took less) and the 90th "
        "percentile (nine in ten took less), for the requests that reached the step.",
    ),
)
