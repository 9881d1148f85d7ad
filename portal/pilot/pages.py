"""What the pilot's pages show, gathered for the route modules: the figures with their
charts and tables, the filters' choices, the exports (audited), and the request or sent
version that the feedback and "answered outside the portal" pages are about."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.models import Organisation, OrganisationKind
from portal.pilot import charts, export
from portal.pilot.figures import Filters, Grouping, figures_by
from portal.pilot.periods import Month, Period, month_name
from portal.pilot.shown import COUNTS, TIMES, ShownRow, shown_groupings
from portal.uk_time import uk_moment

KIND_NAMES = {
    OrganisationKind.SCHOOL: "Schools",
    OrganisationKind.POLICE: "Police",
    OrganisationKind.HEALTH: "Health",
    OrganisationKind.OTHER: "Other organisations",
}


@dataclass(frozen=True)
class Figure:
    """A chart with the sentence that says what it shows."""

    id: str
    caption: str
    svg: Markup


@dataclass(frozen=True)
class FiguresPage:
    filters: Filters
    description: str
    total: ShownRow | None
    sections: list[export.Section]
    figures: dict[str, Figure]
    threshold: int

    @property
    def by_month(self) -> export.Section:
        return self.sections[1]

    @property
    def by_organisation(self) -> export.Section:
        return self.sections[2]

    @property
    def by_kind(self) -> export.Section:
        return self.sections[3]


def partner_organisations(session: Session) -> list[tuple[uuid.UUID, str]]:
    found = session.execute(
        sa.select(Organisation.id, Organisation.name)
        .where(Organisation.kind != OrganisationKind.COUNCIL)
        .order_by(Organisation.name)
    ).all()
    return [(row.id, row.name) for row in found]


def describe(session: Session, filters: Filters) -> str:
    """The filters in words: "Requests issued from January 2026 to March 2026 to schools"."""
    words = f"Requests issued in {filters.period.name}"
    if filters.organisation_id is not None:
        name = session.scalar(
            sa.select(Organisation.name).where(Organisation.id == filters.organisation_id)
        )
        return f"{words} to {name}"
    if filters.kind is not None:
        return f"{words} to {KIND_NAMES[filters.kind].lower()}"
    return f"{words} to every partner organisation"


def figures_page(session: Session, filters: Filters, threshold: int, today: date) -> FiguresPage:
    if session.get_bind().dialect.name == "postgresql":
        # The figures sort and hash every request a few times: in memory, not on disk; and
        # compiling the queries to machine code (JIT) costs more than it saves here.
        session.execute(sa.text("SET LOCAL work_mem = '256MB'"))
        session.execute(sa.text("SET LOCAL jit = off"))
    found = figures_by(session, filters, today, tuple(Grouping))
    # Held back together: a grouping's groups add up to the total (docs/pilot.md).
    rows = shown_groupings(
        found,
        threshold,
        {
            Grouping.TOTAL: lambda _row: "All",
            Grouping.MONTH: lambda row: month_name(row.key),
            Grouping.ORGANISATION: lambda row: row.key,
            Grouping.KIND: lambda row: KIND_NAMES[OrganisationKind(row.key)],
        },
    )
    total, by_month = rows[Grouping.TOTAL], rows[Grouping.MONTH]
    by_organisation, by_kind = rows[Grouping.ORGANISATION], rows[Grouping.KIND]
    sections = [
        export.Section("All", "Period", total),
        export.Section("By month", "Month issued", by_month),
        export.Section("By organisation", "Organisation", by_organisation),
        export.Section("By kind", "Kind of organisation", by_kind),
    ]
    description = describe(session, filters)
    return FiguresPage(
        filters=filters,
        description=description,
        total=total[0] if total else None,
        sections=sections,
        figures=_figures(description, total, by_month, by_organisation),
        threshold=threshold,
    )


def _series(rows: list[ShownRow], *names: str) -> list[charts.Series]:
    return [charts.Series(name, [row.cells[name] for row in rows]) for name in names]


def _figures(
    description: str,
    total: list[ShownRow],
    by_month: list[ShownRow],
    by_organisation: list[ShownRow],
) -> dict[str, Figure]:
    issued, answered = COUNTS[0].name, COUNTS[2].name
    found = {
        "months": Figure(
            "chart-months",
            f"{description}: how many were issued and how many answered in the portal, "
            "by the month they were issued.",
            charts.bar_chart(
                "chart-months",
                "Requests issued and answered, by month",
                [row.label for row in by_month],
                _series(by_month, issued, answered),
            ),
        ),
        "organisations": Figure(
            "chart-organisations",
            f"{description}: how many each organisation received and answered in the portal.",
            charts.bar_chart(
                "chart-organisations",
                "Requests issued and answered, by organisation",
                [row.label for row in by_organisation],
                _series(by_organisation, issued, answered),
            ),
        ),
    }
    if total:
        steps = [TIMES[i : i + 2] for i in range(0, len(TIMES), 2)]
        found["times"] = Figure(
            "chart-times",
            f"{description}: the median and 90th percentile number of hours from issue to "
            "each step, for the requests that reached it.",
            charts.bar_chart(
                "chart-times",
                "Hours from issue to each step",
                [median.name.removeprefix("Median hours to ") for median, _ in steps],
                [
                    charts.Series("Median", [total[0].cells[m.name] for m, _ in steps]),
                    charts.Series("90th percentile", [total[0].cells[n.name] for _, n in steps]),
                ],
            ),
        )
    return found


def about(page: FiguresPage, now: datetime) -> list[tuple[str, str]]:
    return [
        ("Pilot figures", page.description),
        ("Made", uk_moment(now)),
        (
            "Small numbers",
            f"Counts under {page.threshold} are shown as 'fewer than {page.threshold}', and "
            "where one group's count is held back the next smallest is too, so that none can "
            "be worked out from the total; rates and times from too few requests are not shown",
        ),
        ("Definitions", "docs/pilot.md, in the portal's documentation"),
    ]


def record_export(session: Session, actor: Actor, page: FiguresPage, file_format: str) -> None:
    filters = page.filters
    record_event(
        session,
        AuditAction.PILOT_FIGURES_EXPORTED,
        actor=actor,
        details={
            "format": file_format,
            "first_month": str(filters.period.first),
            "last_month": str(filters.period.last),
            "kind": filters.kind.value if filters.kind else None,
            "organisation": str(filters.organisation_id) if filters.organisation_id else None,
        },
    )


def default_period(today: date) -> Period:
    """The last twelve months, this one included."""
    this_month = Month.of(today)
    return Period(this_month.minus(11), this_month)


__all__ = ["COUNTS", "TIMES", "Filters", "Month", "Period"]
