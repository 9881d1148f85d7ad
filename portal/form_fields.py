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
        if not any(parts):
            self.raw_data = None  # no filter; the widget draws empty boxes
            return
        if len(parts) != 3:
            self.raw_data = None  # the widget redraws three boxes from three values only
            raise ValueError(f"Enter {self.label.text.lower()} as a day, month and year")
        missing = [
            name for name, part in zip(("day", "month", "year"), parts, strict=True) if not part
        ]
        if missing:
            raise ValueError(f"{self.label.text} must include a {' and a '.join(missing)}")
        day, month, year = parts
        if not all(_DIGITS.fullmatch(part) for part in parts) or len(year) != 4:
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2025")
        try:
            self.data = date(int(year), int(month), int(day))
        except ValueError:
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2025") from None
