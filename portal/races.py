"""Two people changing the same thing at once. The second one's write fails on a row version
(optimistic locking) or on a unique constraint; its work is rolled back and it is refused with
a message it can act on, and what the first one did stands. Never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError


@contextmanager
def one_at_a_time(session: Session, refusal: Exception) -> Iterator[None]:
    """Run the block and write it now (not at the request's commit, where a lost race could
    only be a server error); if someone else changed the same rows meanwhile, roll back and
    raise `refusal`."""
    try:
        yield
        session.flush()
    except (StaleDataError, IntegrityError):
        session.rollback()
        raise refusal from None
