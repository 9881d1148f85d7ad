"""A delivery the CMS answers while PostgreSQL is down: a real `portal worker`, the reference CMS
and the fault tests' own cluster, stopped while the CMS is still working on the send.

The worker cannot record the answer until the database is back. It must wait to record it, and
never send the contribution again meanwhile: not on the outage's short backoff, and not before
the CMS's Retry-After once the answer is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.processes import WorkerProcess, log_tails, wait_until
from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.lifecycle import OutboxStatus
from portal.models import AuditEvent, OutboxMessage
from tests.faults.portal_data import migrated_database
from tests.faults.servers import PrivatePostgres
from tests.support.deliveries import Outbox, worker_environment

pytestmark = pytest.mark.postgres

CMS_WORKS_SECONDS = 4.0  # the CMS takes this long over the send: the database stops meanwhile
OUTAGE_SECONDS = 6.0  # at least, after the CMS answered: several of the outage's retries
RETRY_AFTER = 60  # what the CMS asks, far beyond the outage's backoff (0.5 s, doubling)
OUTAGE_LOGGED = "the database is unreachable"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def sends(cms_log: Path) -> int:
    """How many times the CMS was asked to store a contribution (its access lines)."""
    return sum(
        "POST /api/v1/cases/" in line and "/contributions" in line
        for line in cms_log.read_text(encoding="utf-8").splitlines()
    )


def test_an_answer_that_cannot_be_recorded_waits_for_the_database_and_is_not_sent_again(
    cluster: PrivatePostgres,
    tmp_path: Path,
    keyring: FileKeyring,
    keyring_path: Path,
    running: ExitStack,
) -> None:
    engine = migrated_database(cluster, keyring, "answered_in_outage")
    running.callback(engine.dispose)
    running.callback(lambda: cluster.running() or cluster.start())
    (tmp_path / "cms").mkdir()
    cms = ReferenceCms(tmp_path / "cms").start()
    running.callback(cms.stop)
    cms_log = tmp_path / "cms" / "cms.log"
    with Session(engine) as session:
        [row_id] = Outbox(session, keyring, tmp_path / "files").accepted(1)

    # The CMS works on the send for a while, then says: too many requests, come back later.
    cms.faults(
        delay_next=1,
        delay_seconds=CMS_WORKS_SECONDS,
        rate_limit_next=1,
        retry_after=RETRY_AFTER,
    )
    environment = worker_environment(
        cluster.database_url("answered_in_outage"),
        keyring_path,
        tmp_path / "files",
        cms,
        lease_seconds=300,
    )
    worker = WorkerProcess(environment, tmp_path / "worker.log")
    running.callback(worker.terminate)
    # The worker fetches its CMS token just before its first send.
    wait_until(lambda: "/oauth/token" in cms_log.read_text(), message="the send to start")
    time.sleep(CMS_WORKS_SECONDS / 4)
    assert sends(cms_log) == 0, "the CMS answered before the database stopped"
    engine.dispose()  # the test's own connections must not hold the cluster's stop up
    cluster.stop()

    wait_until(
        lambda: sends(cms_log) >= 1 and OUTAGE_LOGGED in worker.log.read_text(),
        timeout=30,
        message="the CMS to answer, and the worker to meet the outage with it",
    )
    answered, answered_at = time.monotonic(), datetime.now(UTC)
    while time.monotonic() - answered < OUTAGE_SECONDS:
        time.sleep(0.2)
        assert sends(cms_log) == 1, (
            f"sent again during the outage\n{log_tails(tmp_path)}"
        )  # on the outage's backoff, long before the CMS's Retry-After
    cluster.start()

    wait_until(
        lambda: row(engine, row_id).last_error is not None,
        timeout=30,
        message="the answer recorded once the database is back",
    )
    recorded = row(engine, row_id)
    time.sleep(2)  # more than the worker's poll: it would have sent again by now if it would
    assert sends(cms_log) == 1, log_tails(tmp_path)
    assert cms.records() == []
    assert recorded.status == OutboxStatus.PENDING
    assert recorded.last_error is not None and recorded.last_error.startswith("cms_http_429")
    with Session(engine) as session:
        [failed] = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.DELIVERY_FAILED.value)
        ).all()
    assert failed.details["retry_in_seconds"] == RETRY_AFTER
    # The CMS's minute counts from its answer, not from the recording after the outage.
    asked = answered_at + timedelta(seconds=RETRY_AFTER)
    assert abs(recorded.next_attempt_at - asked) < timedelta(seconds=3)
    assert worker.terminate() == 0


def row(engine: sa.Engine, row_id: object) -> OutboxMessage:
    with Session(engine) as session:
        return session.get_one(OutboxMessage, row_id)
