"""Bar charts drawn on the server as SVG: no script, no inline style (presentation attributes
only, which the content security policy does not govern), text in the page's own font.

Horizontal bars, one group per category (a month, an organisation, a step), one bar per
series, each bar labelled with its value: long organisation names fit, and nothing is told by
colour alone. A value held back by the suppression rules has no bar, only its words ("fewer
than 5"). The chart never stands alone: the page puts its caption and its table beside it
(docs/pilot.md says why these are hand-drawn rather than made with a charting library)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from markupsafe import Markup

from portal.pilot.shown import Cell

# GOV.UK's blue and black: each at least 3:1 against white (WCAG's non-text contrast), and
# told apart by their legend and labels, never by colour alone.
COLOURS = ("#1d70b8", "#0b0c0c", "#00703c", "#d4351c")
WIDTH = 720
LABEL_WIDTH = 230
VALUE_ROOM = 110
BAR = 20
GAP = 6
GROUP_GAP = 14
LEGEND = 34


@dataclass(frozen=True)
class Series:
    name: str
    values: list[Cell]


def bar_chart(chart_id: str, title: str, categories: list[str], series: list[Series]) -> Markup:
    group = len(series) * (BAR + GAP) + GROUP_GAP
    height = LEGEND + max(1, len(categories)) * group
    largest = max(
        (cell.number for s in series for cell in s.values if cell.number is not None),
        default=0,
    )
    scale = (WIDTH - LABEL_WIDTH - VALUE_ROOM) / largest if largest else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{height}" role="img" aria-labelledby="{chart_id}-title" focusable="false">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        *_legend(series),
    ]
    for index, category in enumerate(categories):
        top = LEGEND + index * group
        parts.append(
            f'<text x="0" y="{top + (group - GROUP_GAP) / 2 + 5:.0f}" font-size="16" '
            f'fill="#0b0c0c">{escape(_shorten(category))}</text>'
        )
        for number, one in enumerate(series):
            y = top + number * (BAR + GAP)
            parts.append(_bar(one.values[index], y, scale, COLOURS[number % len(COLOURS)]))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def _legend(series: list[Series]) -> list[str]:
    parts, x = [], LABEL_WIDTH
    for number, one in enumerate(series):
        colour = COLOURS[number % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="4" width="16" height="16" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 22}" y="18" font-size="16" fill="#0b0c0c">{escape(one.name)}</text>'
        )
        x += 30 + 9 * len(one.name)
    return parts


def _bar(cell: Cell, y: int, scale: float, colour: str) -> str:
    label = f'font-size="14" fill="#0b0c0c">{escape(cell.text)}</text>'
    if cell.number is None:
        return f'<text x="{LABEL_WIDTH}" y="{y + 15}" {label}'
    length = max(cell.number * scale, 1.0 if cell.number else 0.0)
    return (
        f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR}" fill="{colour}"/>'
        f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{y + 15}" {label}'
    )


def _shorten(text: str, most: int = 26) -> str:
    """The category's name in the picture; the table beside it has it whole."""
    return text if len(text) <= most else text[: most - 1] + "…"
