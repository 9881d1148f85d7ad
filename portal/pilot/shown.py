"""The figures as the page, the CSV and the spreadsheet show them: one set of columns, and
the small-number suppression applied once, here, so that all three hold the same numbers.

Counts of requests and of feedback responses under [pilot] suppress_below are "fewer than N";
where a grouping's groups add up to a total that is shown (months, organisations and kinds to
the period's; an organisation to its kind's) and only one of them would be held back, the
next smallest is held back too, so that no hidden count is the total less the shown ones;
a rate is shown only when its numerator, its denominator and what separates them are all at
least N and no count it is made of is held back; a time only when at least N requests
reached the step (docs/pilot.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from portal.pilot.figures import Grouping, Row, Step

HOUR = 3600.0


@dataclass(frozen=True)
class Cell:
    """One value: `number` for charts and spreadsheets, None when it is held back."""

    number: float | None
    text: str

    @property
    def exported(self) -> float | str:
        return self.text if self.number is None else self.number


# Held back: the count fields of a row that are not shown ("fewer than N").
Held = frozenset[str]
Value = Callable[[Row, int, Held], Cell]


@dataclass(frozen=True)
class Column:
    name: str
    value: Value
    unit: str = ""

    @property
    def heading(self) -> str:
        """The heading on the page and in the downloads: a rate's with "(%)" (the times'
        names already say they are in hours)."""
        return f"{self.name} (%)" if self.unit == "%" else self.name


def _count(name: str) -> Value:
    def value(row: Row, threshold: int, held: Held) -> Cell:
        if name in held:
            return Cell(None, f"fewer than {threshold}")
        return count_cell(getattr(row, name), threshold)

    return value


def count_cell(number: int, threshold: int) -> Cell:
    if number < threshold:
        return Cell(None, f"fewer than {threshold}")
    return Cell(number, f"{number:,}")


def _plain(name: str) -> Value:
    """Counts of organisations and people: staff, not children; never held back."""

    def value(row: Row, _threshold: int, _held: Held) -> Cell:
        number = getattr(row, name)
        return Cell(number, f"{number:,}")

    return value


def rate_shown(top: int, bottom: int, threshold: int) -> bool:
    """A rate reveals its numerator, its denominator and what separates them (3 of 43 is 40
    of 43 turned round; 100% says none are left): each must be at least the threshold."""
    return min(top, bottom, bottom - top) >= threshold


def _rate(
    numerator: Callable[[Row], int], denominator: Callable[[Row], int], parts: Sequence[str]
) -> Value:
    """A rate; `parts`: the shown counts it is made of, any of them held back holds it back
    (completion from "not this child" held back would give that count away)."""

    def value(row: Row, threshold: int, held: Held) -> Cell:
        top, bottom = numerator(row), denominator(row)
        if held.intersection(parts) or not rate_shown(top, bottom, threshold):
            return Cell(None, "not shown")
        percent = round(100 * top / bottom)
        return Cell(percent, f"{percent}%")

    return value


def _returns_per_request(row: Row, threshold: int, held: Held) -> Cell:
    if row.returns < threshold or row.answered < threshold or "answered" in held:
        return Cell(None, "not shown")
    ratio = round(row.returns / row.answered, 2)
    return Cell(ratio, f"{ratio:.2f}")


def _time(step: Step, ninetieth: bool) -> Value:
    def value(row: Row, threshold: int, _held: Held) -> Cell:
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
        _rate(lambda r: r.answered_by_due, lambda r: r.due_or_answered, ()),
        "%",
    ),
    Column("Returns per request answered", _returns_per_request),
    Column(
        "Completion rate",
        _rate(lambda r: r.completed, lambda r: r.opened, ("answered", "not_this_child", "opened")),
        "%",
    ),
    Column(
        "User satisfaction",
        _rate(lambda r: r.satisfied, lambda r: r.responses, ("responses",)),
        "%",
    ),
    Column(
        "Digital take-up",
        _rate(
            lambda r: r.answered_only_in_portal,
            lambda r: r.answered_either_way,
            ("answered", "answered_elsewhere"),
        ),
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


# The counts held back when small, and held back again to protect another (secondary).
COUNT_FIELDS = (
    "issued",
    "opened",
    "answered",
    "returned",
    "accepted",
    "rejected",
    "withdrawn",
    "not_this_child",
    "answered_elsewhere",
    "responses",
)


@dataclass(frozen=True)
class ShownRow:
    label: str
    kind: str
    cells: dict[str, Cell]


def shown(
    rows: list[Row],
    threshold: int,
    label: Callable[[Row], str],
    held: Sequence[Held] | None = None,
) -> list[ShownRow]:
    """The rows' cells; `held`: each row's counts held back (by default, those under the
    threshold: secondary suppression needs the other groupings, `shown_groupings`)."""
    if held is None:
        held = [_small(row, threshold) for row in rows]
    return [
        ShownRow(
            label(row),
            row.kind,
            {column.name: column.value(row, threshold, kept) for column in COLUMNS},
        )
        for row, kept in zip(rows, held, strict=True)
    ]


def _small(row: Row, threshold: int) -> Held:
    return frozenset(name for name in COUNT_FIELDS if getattr(row, name) < threshold)


@dataclass
class _Family:
    """A shown total and the groups that add up to it."""

    total: tuple[Grouping, int]
    parts: list[tuple[Grouping, int]] = field(default_factory=list)


def _families(found: Mapping[Grouping, list[Row]]) -> list[_Family]:
    total = (Grouping.TOTAL, 0)
    families = [
        _Family(total, [(grouping, i) for i in range(len(found.get(grouping, [])))])
        for grouping in (Grouping.MONTH, Grouping.ORGANISATION, Grouping.KIND)
    ]
    for k, kind in enumerate(found.get(Grouping.KIND, [])):
        families.append(
            _Family(
                (Grouping.KIND, k),
                [
                    (Grouping.ORGANISATION, i)
                    for i, row in enumerate(found.get(Grouping.ORGANISATION, []))
                    if row.kind == kind.key
                ],
            )
        )
    return families


def held_back(found: Mapping[Grouping, list[Row]], threshold: int) -> dict[Grouping, list[Held]]:
    """Each row's counts held back: those under the threshold, then, in every family of a
    shown total and its parts where exactly one part is held back, the smallest shown other
    part too (until nothing changes: a cell held back for one family may leave another with
    one), so that no hidden count is the total less the shown parts."""
    held = {g: [set(_small(row, threshold)) for row in rows] for g, rows in found.items()}
    if not found.get(Grouping.TOTAL):
        return {g: [frozenset(h) for h in rows] for g, rows in held.items()}
    families = _families(found)
    changed = True
    while changed:
        changed = False
        for family, name in ((f, n) for f in families for n in COUNT_FIELDS):
            changed |= _protect(found, held, family, name)
    return {g: [frozenset(h) for h in rows] for g, rows in held.items()}


def _protect(
    found: Mapping[Grouping, list[Row]],
    held: dict[Grouping, list[set[str]]],
    family: _Family,
    name: str,
) -> bool:
    grouping, index = family.total
    if name in held[grouping][index]:
        return False
    hidden = [part for part in family.parts if name in held[part[0]][part[1]]]
    if len(hidden) != 1:
        return False
    others = [part for part in family.parts if name not in held[part[0]][part[1]]]
    if not others:
        return False
    smallest = min(others, key=lambda part: getattr(found[part[0]][part[1]], name))
    held[smallest[0]][smallest[1]].add(name)
    return True


def shown_groupings(
    found: Mapping[Grouping, list[Row]],
    threshold: int,
    labels: Mapping[Grouping, Callable[[Row], str]],
) -> dict[Grouping, list[ShownRow]]:
    """Every grouping's rows with the small numbers held back, secondary suppression
    included."""
    held = held_back(found, threshold)
    return {
        grouping: shown(rows, threshold, labels[grouping], held[grouping])
        for grouping, rows in found.items()
    }


# What each figure means, on the page and in docs/pilot.md (which says more).
DEFINITIONS = (
    (
        "Requests issued",
        "Requests a social worker sent to the organisation in the month (UK time).",
    ),
    (
        "Opened by the partner",
        "Of those, requests someone at the organisation opened at least once, or for which "
        "it confirmed a child or sent answers.",
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
        "Requests answered in the portal and not recorded as answered outside it, out of "
        "those answered either way.",
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
