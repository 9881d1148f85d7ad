"""A figure measured, its goal, and the table they make (printed, and written to
docs/benchmarks.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    # What was measured, e.g. "connector drain, 4 workers".
    name: str
    # The measurement as shown, with its unit, e.g. "231 contributions/s".
    measured: str
    # The goal as shown ("" when the issue sets none for this row), e.g. "≥ 200/s".
    goal: str = ""
    # Whether the goal was met; None when there is no goal.
    met: bool | None = None
    # How it was measured, or what else the reader needs (one short phrase).
    note: str = ""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def table(figures: list[Figure]) -> str:
    """A Markdown table (also readable as plain text in a terminal)."""
    rows = [("figure", "measured", "goal", "", "how")]
    rows += [(f.name, f.measured, f.goal, f.verdict, f.note) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])
