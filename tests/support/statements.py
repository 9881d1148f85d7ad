"""The SQL a piece of code runs on a test's session: to hold a page or a count to the number
of statements it may take."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session


@contextmanager
def statements_run(session: Session) -> Iterator[list[str]]:
    """Every statement run on `session`'s connection meanwhile, as sent (savepoints too)."""
    ran: list[str] = []

    def executing(*arguments: object) -> None:
        ran.append(str(arguments[2]))

    connection = session.connection()
    sa.event.listen(connection, "before_cursor_execute", executing)
    try:
        yield ran
    finally:
        sa.event.remove(connection, "before_cursor_execute", executing)
