"""The UK calendar for SQLite (the demo's database), which has no time zones: `uk_month` and
`uk_day` of an instant, from Python's zoneinfo, given to every new connection (portal/db.py).
portal/pilot/dialect.py compiles its expressions to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.uk_time import UK


def _stored_instant(value: str | None) -> datetime | None:
    """An instant as SQLite holds it: UTC text without a zone (portal.models.base)."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(UK)


def _sqlite_uk_month(value: str | None) -> str | None:
    moment = _stored_instant(value)
    return None if moment is None else f"{moment:%Y-%m}"


def _sqlite_uk_day(value: str | None) -> str | None:
    moment = _stored_instant(value)
    return None if moment is None else moment.date().isoformat()


def register_sqlite_functions(connection: Any) -> None:
    """Give a new sqlite3 connection the functions above (deterministic: usable in indexes)."""
    connection.create_function("uk_month", 1, _sqlite_uk_month, deterministic=True)
    connection.create_function("uk_day", 1, _sqlite_uk_day, deterministic=True)
