"""A period of whole UK months, as the figures' filters give it ("YYYY-MM" to "YYYY-MM")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from portal.uk_time import long_date, start_of_uk_day

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """A month written "YYYY-MM" (as an <input type="month"> sends it), or None."""
        text = text.strip()
        if not _MONTH.fullmatch(text):
            return None
        year, month = text.split("-")
        return cls(int(year), int(month)) if int(year) >= 2000 else None

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def minus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 - months
        return Month(index // 12, index % 12 + 1)

    @property
    def name(self) -> str:
        """As people write it: March 2026."""
        return long_date(self.first_day()).split(" ", 1)[1]


def month_name(text: str) -> str:
    """ "2026-03" as "March 2026" (the `month_name` idea for tables and captions)."""
    month = Month.parse(text)
    return month.name if month else text


@dataclass(frozen=True)
class Period:
    """From the first UK day of `first` to the last UK day of `last`, both included."""

    first: Month
    last: Month

    @property
    def starts_at(self) -> datetime:
        return start_of_uk_day(self.first.first_day())

    @property
    def ends_at(self) -> datetime:
        return start_of_uk_day(self.last.next().first_day())

    @property
    def name(self) -> str:
        if self.first == self.last:
            return self.first.name
        return f"{self.first.name} to {self.last.name}"
