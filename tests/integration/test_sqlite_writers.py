"""On the demo's SQLite database, writers queue for the single write lock instead of failing.

A page that reads (its session, the request) and then appends to the audit trail, while the
delivery worker appends too, once collided: both read the same newest event, and the second
either found its snapshot stale ("database is locked" at once, whatever the busy timeout) or
wrote the same sequence number (IntegrityError). The person saw "service unavailable" after
accepting a contribution. Real threads on a real SQLite file, through the portal's engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loopback.databases import migrated_engine
from portal.audit import AuditAction, record_event
from portal.crypto import FileKeyring
from portal.models import AuditEvent
from tests.support.audit_tree import assert_one_tree

WRITERS = 6
APPENDS = 8


def test_concurrent_writers_queue_and_the_log_stays_whole(
    tmp_path: Path, keyring: FileKeyring
) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path / 'demo.db'}", keyring)
    start = threading.Barrier(WRITERS)
    failures: list[str] = []

    def like_a_page() -> None:
        start.wait()
        for _ in range(APPENDS):
            try:
                with Session(engine) as session:
                    # A page reads first (its session, the request), then records what it did.
                    session.execute(sa.select(sa.func.count()).select_from(AuditEvent))
                    time.sleep(0.002)
                    record_event(session, AuditAction.DEMO_DATA_SEEDED)
                    session.commit()
            except Exception as error:  # noqa: BLE001  # counted, so the test says which
                failures.append(f"{type(error).__name__}: {error}"[:200])

    threads = [threading.Thread(target=like_a_page) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    try:
        assert failures == []
        with Session(engine) as session, session.begin():
            seqs = list(session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))
            in_tree_order = assert_one_tree(session)
        # One writer at a time: numbers are gapless, and the order of commits.
        assert seqs == list(range(seqs[0], seqs[0] + WRITERS * APPENDS))
        assert in_tree_order == seqs
    finally:
        engine.dispose()
