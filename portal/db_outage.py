"""How a background process (the delivery worker, the e-mail sender) rides out a database
outage, such as a restart or a failover: it logs once when the database stops answering and
once when it answers again, waits a short, growing backoff between tries, and never exits for
it. The error is named by its type alone: a database error's message can quote the server's
address or what a statement carried.

Only a lost or refused connection is an outage. Any other database error is a fault in what
the process was doing, and is raised as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

# A connection refused, cut off or closed: what a database restart or failover looks like.
DATABASE_DOWN = (OperationalError, InterfaceError)
FIRST_WAIT_SECONDS = 0.5
LONGEST_WAIT_SECONDS = 10.0


class DatabaseOutage:
    """One process's view of the database being unreachable, for `name` (its log lines)."""

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self.since: float | None = None  # time.monotonic() of the outage's first failure
        self.wait = FIRST_WAIT_SECONDS

    def failed(self, error: DBAPIError) -> None:
        """A try met the outage: log it if it is the first, then wait before the next try
        (less, if the process is told to stop meanwhile)."""
        if self.since is None:
            self.since = time.monotonic()
            self.wait = FIRST_WAIT_SECONDS
            log.warning(
                "%s: the database is unreachable (%s); trying again until it answers",
                self.name,
                type(error.orig or error).__name__,
            )
        self.stop.wait(self.wait)
        self.wait = min(self.wait * 2, LONGEST_WAIT_SECONDS)

    def answered(self) -> None:
        """A try succeeded: log the end of the outage, if there was one."""
        if self.since is not None:
            log.info(
                "%s: the database answers again after %.1f s",
                self.name,
                time.monotonic() - self.since,
            )
            self.since = None

    def retrying(self, action: Callable[[], T]) -> T:
        """`action`'s result, tried again after each outage error until it succeeds. Told to
        stop meanwhile, it raises the last error instead."""
        while True:
            try:
                result = action()
            except DATABASE_DOWN as error:
                if self.stop.is_set():
                    raise
                self.failed(error)
                continue
            self.answered()
            return result

    def run_until_stopped(self, work: Callable[[], object], poll_seconds: float) -> None:
        """A background worker's loop: `work()` until told to stop, waiting out each outage,
        and `poll_seconds` after a round that found nothing to do (a falsy result)."""
        while not self.stop.is_set():
            try:
                worked = work()
            except DATABASE_DOWN as error:
                self.failed(error)
                continue
            self.answered()
            if not worked:
                self.stop.wait(poll_seconds)
