"""UK calendar days: due dates, closing dates and date filters are days in Europe/London,
stored as UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

UK = ZoneInfo("Europe/London")
PLANNING_HORIZON = timedelta(days=730)  # as far as [requests] default_expiry_days may reach


def uk_today() -> date:
    return datetime.now(UK).date()


def start_of_uk_day(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UK).astimezone(UTC)


def end_of_uk_day(day: date) -> datetime:
    """The instant the day ends (the start of the next). The calendar's last day has no next
    day: it ends at the last instant there is (GMT in December, so UTC's last instant)."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return start_of_uk_day(day + timedelta(days=1))


def last_uk_day(moment: datetime) -> date:
    """The UK day that ends at `moment` (an end_of_uk_day value)."""
    return (moment.astimezone(UK) - timedelta(microseconds=1)).date()


def uk_clock(moment: datetime | None, pattern: str | None = None) -> str:
    """An instant in UK time, for pages (the `uk_time` template filter): GOV.UK's style
    (uk_moment) unless a strftime `pattern` asks for part of it, such as the day alone."""
    if moment is None:
        return ""
    return uk_moment(moment) if pattern is None else moment.astimezone(UK).strftime(pattern)


def uk_moment(moment: datetime | None, seconds: bool = False) -> str:
    """An instant as GOV.UK writes one, in UK time: 5 December 2026 at 8:36pm, 9am, midday,
    midnight (the `uk_moment` template filter). With `seconds`, for the audit pages where
    events a moment apart must be told apart: 5 December 2026 at 8:36:04pm."""
    if moment is None:
        return ""
    local = moment.astimezone(UK)
    return f"{local.day} {local:%B %Y} at {uk_time_of_day(local, seconds)}"


def uk_time_of_day(moment: datetime, seconds: bool = False) -> str:
    """The UK clock time alone, as GOV.UK writes it: 8:36pm, 9am, midday, midnight."""
    local = moment.astimezone(UK)
    exact = seconds and local.second != 0
    if (local.hour, local.minute) == (12, 0) and not exact:
        return "midday"
    if (local.hour, local.minute) == (0, 0) and not exact:
        return "midnight"
    minutes = "" if local.minute == 0 and not exact else f":{local.minute:02d}"
    if exact:
        minutes += f":{local.second:02d}"
    return f"{(local.hour - 1) % 12 + 1}{minutes}{'am' if local.hour < 12 else 'pm'}"


def long_date(day: date | str) -> str:
    """A day as people write it, 14 March 2015 (the `long_date` template filter); an ISO date
    string is read first."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return f"{day.day} {day:%B %Y}"


def latest_planned_day(today: date | None = None) -> date:
    """The furthest day a due or closing date may be: two years ahead. A request is for a
    decision or an assessment in hand; further than that is a typing slip (31/12/9999)."""
    return (today or uk_today()) + PLANNING_HORIZON
