"""CPU time spent by the processes that serve a page, read from /proc: gunicorn's workers and
the PostgreSQL backends connected to the run's database, so that what a page costs can be
given per request (locust, the load generator, is not counted)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSeconds:
    web: float
    database: float

    def __sub__(self, earlier: CpuSeconds) -> CpuSeconds:
        return CpuSeconds(self.web - earlier.web, self.database - earlier.database)

    @property
    def total(self) -> float:
        return self.web + self.database


def process_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User and system CPU seconds of each process still running."""
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                # The fields after the command name, which is in brackets and may hold spaces.
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    return found


def database_backends(engine: Engine) -> list[int]:
    """The server processes of every other connection to this database."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


class CpuMeter:
    """CPU seconds spent between `start` and `stop` by the web workers `web_pids()` names and
    the database's backends. A backend that ends meanwhile is missed: the pools keep theirs."""

    def __init__(self, engine: Engine, web_pids: Callable[[], list[int]]) -> None:
        self.engine = engine
        self.web_pids = web_pids
        self._before: tuple[dict[int, float], dict[int, float]] = ({}, {})

    def start(self) -> None:
        self._before = (
            process_seconds(self.web_pids()),
            process_seconds(database_backends(self.engine)),
        )

    def stop(self) -> CpuSeconds:
        web = process_seconds(self.web_pids())
        database = process_seconds(database_backends(self.engine))
        return CpuSeconds(_grown(self._before[0], web), _grown(self._before[1], database))


def _grown(before: dict[int, float], after: dict[int, float]) -> float:
    # A process that started meanwhile counts from zero.
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
