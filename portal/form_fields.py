"""Form fields the GOV.UK Design System asks for that WTForms lacks."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from govuk_frontend_wtf.wtforms_widgets import GovDateInput
from wtforms import Field
from wtforms.validators import ValidationError

from portal.uk_time import latest_planned_day, long_date

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


def too_far_ahead(day: date, label: str) -> str | None:
    """GOV.UK's message for a due or closing date past the planning horizon (uk_time's
    latest_planned_day); None for a day within it."""
    latest = latest_planned_day()
    if day <= latest:
        return None
    return f"The {label.lower()} must be the same as or before {long_date(latest)}"


def within_planning_horizon(form: Any, field: DayField) -> None:
    """A validator for DayFields that hold a due or closing date."""
    problem = None if field.data is None else too_far_ahead(field.data, field.label.text)
    if problem:
        raise ValidationError(problem)
