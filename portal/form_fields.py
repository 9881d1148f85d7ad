"""Form fields the GOV.UK Design System asks for that WTForms lacks."""

from __future__ import annotations

import re
from datetime import date

from govuk_frontend_wtf.wtforms_widgets import GovDateInput
from wtforms import Field

_DIGITS = re.compile(r"[0-9]{1,4}")


class DayField(Field):
    """A UK calendar day in GOV.UK's three boxes (day, month, year), all sent under one name.

    Empty is no filter; anything partly given or not a real day is an error that says which.
    """

    widget = GovDateInput()
    data: date | None

    def _value(self) -> str:
        return "" if self.data is None else self.data.strftime("%d %m %Y")

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = None
        parts = [part.strip() for part in valuelist]
        if len(parts) != 3 or not any(parts):
            self.raw_data = None  # the widget redraws three boxes from three values only
        self.data = parse_day(parts, self.label.text)


def parse_day(parts: list[str], label: str) -> date | None:
    """The day that three boxes (day, month, year) give; None when all are empty; ValueError
    with a GOV.UK message when they are partly given or not a real day."""
    parts = [part.strip() for part in parts]
    if not any(parts):
        return None
    if len(parts) != 3:
        raise ValueError(f"Enter {label.lower()} as a day, month and year")
    missing = [name for name, part in zip(("day", "month", "year"), parts, strict=True) if not part]
    if missing:
        raise ValueError(f"{label} must include a {' and a '.join(missing)}")
    day, month, year = parts
    if not all(_DIGITS.fullmatch(part) for part in parts) or len(year) != 4:
        raise ValueError(f"{label} must be a real date, like 27 3 2025")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"{label} must be a real date, like 27 3 2025") from None
