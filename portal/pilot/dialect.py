"""SQL expressions the figures need that PostgreSQL and SQLite (the demo) spell differently:
the UK month and UK day of an instant, and the seconds between two instants. On SQLite the UK
calendar comes from Python's zoneinfo through functions registered on every connection
(portal/sqlite_calendar.py, which portal/db.py calls)."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class uk_month(FunctionElement[str]):  # noqa: N801 - SQL functions are lower case
    """'YYYY-MM': the month in Europe/London that an instant falls in."""

    type = sa.String()
    name = "uk_month"
    inherit_cache = True


class uk_day(FunctionElement[date]):  # noqa: N801
    """The day in Europe/London that an instant falls in, comparable with a DATE column."""

    type = sa.Date()
    name = "uk_day"
    inherit_cache = True


class seconds_between(FunctionElement[float]):  # noqa: N801
    """Seconds from the first instant to the second."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


@compiles(uk_month)
@compiles(uk_day)
def _registered_function(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite: the functions portal.sqlite_calendar gives every connection."""
    return f"{element.name}({', '.join(_arguments(element, compiler, **kw))})"


@compiles(uk_month, "postgresql")
def _uk_month_postgresql(element: uk_month, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = _arguments(element, compiler, **kw)
    return f"to_char(({moment}) AT TIME ZONE 'Europe/London', 'YYYY-MM')"


@compiles(uk_day, "postgresql")
def _uk_day_postgresql(element: uk_day, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = _arguments(element, compiler, **kw)
    return f"CAST(({moment}) AT TIME ZONE 'Europe/London' AS DATE)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    # EXTRACT gives numeric: double precision sorts several times faster, and holds the
    # microseconds of two years' worth of seconds exactly enough (15 significant digits).
    return f"CAST(EXTRACT(EPOCH FROM (({end}) - ({start}))) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _arguments(element, compiler, **kw)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"
