"""The connector against an unreliable CMS: a real reference CMS process over HTTP, a real
PostgreSQL database and real `portal worker` processes, killed and restarted.

Exactly once: whatever fails, each accepted contribution ends as one record in the CMS and
one "delivered" in the portal, with the same record id.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import PROJECT_ROOT, WorkerProcess, free_port, wait_until
from portal.audit import AuditAction
from portal.crypto import FileKeyring, new_data_key
from portal.crypto.keycheck import new_key_check
from portal.crypto.keyring import read_keyring_keys
from portal.crypto.keyring_file import stage_keyring
from portal.lifecycle import ContributionStatus, OutboxStatus, RequestStatus
from portal.models import AuditEvent, Contribution, OutboxMessage
from portal.models.keys import DataKey
from portal.private_files import write_new_private_file
from tests.support.audit_tree import assert_one_tree
from tests.support.deliveries import Outbox, cms_body, worker_environment


@dataclass
class Stack:
    engine: Engine
    database_url: str
    keyring_path: Path
    files: Path
    cms: ReferenceCms
    outbox: Outbox
    logs: Path

    def environment(self, **cms_settings: Any) -> dict[str, str]:
        return worker_environment(
            self.database_url, self.keyring_path, self.files, self.cms, **cms_settings
        )

    def worker(self, name: str, *arguments: str, **cms_settings: Any) -> WorkerProcess:
        return WorkerProcess(
            self.environment(**cms_settings), self.logs / f"{name}.log", "--name", name, *arguments
        )

    def rows(self) -> list[OutboxMessage]:
        with Session(self.engine) as session:
            return list(session.scalars(sa.select(OutboxMessage)))

    def statuses(self) -> dict[OutboxStatus, int]:
        counts: dict[OutboxStatus, int] = {}
        for row in self.rows():
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    def events(self, action: AuditAction) -> list[AuditEvent]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    sa.select(AuditEvent)
                    .where(AuditEvent.action == action)
                    .order_by(AuditEvent.seq)
                )
            )

    def all_delivered(self, count: int) -> bool:
        return self.statuses().get(OutboxStatus.DELIVERED, 0) == count


@pytest.fixture
def stack(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path, tmp_path: Path
) -> Iterator[Stack]:
    url = create_database(postgres_admin, "connector")
    engine = migrated_engine(url, keyring)
    files = tmp_path / "files"
    cms = ReferenceCms(tmp_path).start()
    try:
        with Session(engine) as session:
            outbox = Outbox(session, keyring, files)
            yield Stack(engine, url, keyring_path, files, cms, outbox, tmp_path)
    finally:
        cms.stop()
        engine.dispose()
        drop_database(postgres_admin, url)


def assert_exactly_once(stack: Stack, count: int) -> None:
    """Every row delivered once: one CMS record per key, the portal holding its record id,
    one delivered event each, and the contribution and request moved on."""
    records = stack.cms.records()
    by_key = {record["idempotency_key"]: record["record_id"] for record in records}
    assert len(records) == len(by_key) == count, "the CMS holds a duplicate or misses one"
    rows = stack.rows()
    assert len(rows) == count
    for row in rows:
        assert row.status == OutboxStatus.DELIVERED
        assert row.cms_record_id == by_key[row.idempotency_key]
    delivered = stack.events(AuditAction.CONTRIBUTION_DELIVERED)
    assert len(delivered) == count
    assert len({event.object_id for event in delivered}) == count
    with Session(stack.engine) as session:
        for contribution in session.scalars(sa.select(Contribution)):
            assert contribution.status == ContributionStatus.DELIVERED
            assert (
                contribution.cms_record_id
                == by_key[f"contribution-{contribution.id}-v{contribution.version}"]
            )
            assert contribution.request.status == RequestStatus.DELIVERED
        assert_one_tree(session)
    assert_nothing_sensitive_logged(stack)


def assert_nothing_sensitive_logged(stack: Stack) -> None:
    """The workers' and the CMS's logs hold ids and codes: no answer, document, name or secret."""
    secret = stack.cms.secret_file.read_text(encoding="utf-8")
    logs = "".join(path.read_text(encoding="utf-8") for path in stack.logs.glob("*.log"))
    assert "delivered as CMS-" in logs  # the logs were written, and are read here
    for sensitive in (
        "Often tired",
        "Attendance report",
        "Amelia",
        secret,
        "Bearer",
        "access_token",
    ):
        assert sensitive not in logs


def test_killed_after_the_cms_committed_the_restarted_worker_records_the_one_record(
    stack: Stack,
) -> None:
    stack.outbox.accepted(1, documents=2)
    # The CMS commits, then holds its answer: the worker is killed while it waits.
    stack.cms.faults(hold_after_commit_next=1, hold_seconds=15)
    first = stack.worker("first")
    wait_until(lambda: stack.cms.records(), message="the CMS to commit the record")
    first.kill()
    [row] = stack.rows()
    assert row.status == OutboxStatus.PENDING and row.cms_record_id is None

    second = stack.worker("second")
    try:
        wait_until(lambda: stack.all_delivered(1), message="the restarted worker")
    finally:
        assert second.terminate() == 0
    assert_exactly_once(stack, 1)
    [delivered] = stack.events(AuditAction.CONTRIBUTION_DELIVERED)
    assert delivered.details["worker"] == "second" and delivered.details["attempt"] == 2


def test_the_cms_down_for_a_while_deliveries_wait_then_all_arrive(stack: Stack) -> None:
    stack.outbox.accepted(5, documents=1)
    stack.cms.stop()
    worker = stack.worker("patient", max_attempts=60)
    try:
        wait_until(
            lambda: sum(row.attempts for row in stack.rows()) >= 15,
            message="several attempts while the CMS is down",
        )
        assert stack.statuses() == {OutboxStatus.PENDING: 5}, "nothing dead-letters early"
        assert all(row.last_error == "cms_unreachable: ConnectionError" for row in stack.rows())
        stack.cms.start()  # the same port and storage
        wait_until(lambda: stack.all_delivered(5), timeout=30, message="the queue to drain")
    finally:
        assert worker.terminate() == 0
    assert_exactly_once(stack, 5)
    assert not stack.events(AuditAction.DELIVERY_DEAD_LETTERED)


def test_retry_after_is_honoured(stack: Stack) -> None:
    stack.outbox.accepted(1)
    stack.cms.faults(rate_limit_next=1, retry_after=3)
    worker = stack.worker("polite")
    try:
        wait_until(lambda: stack.all_delivered(1), message="delivery after the 429")
    finally:
        assert worker.terminate() == 0
    [failed] = stack.events(AuditAction.DELIVERY_FAILED)
    [delivered] = stack.events(AuditAction.CONTRIBUTION_DELIVERED)
    assert failed.details["code"] == "cms_http_429"
    assert failed.details["retry_in_seconds"] == 3
    assert (delivered.occurred_at - failed.occurred_at).total_seconds() >= 3
    assert_exactly_once(stack, 1)


def test_server_errors_back_off_exponentially(stack: Stack) -> None:
    stack.outbox.accepted(1)
    stack.cms.faults(fail_next=3)
    worker = stack.worker("backing-off", retry_base_seconds=0.5, retry_ceiling_seconds=10)
    try:
        wait_until(lambda: stack.all_delivered(1), message="delivery after three 500s")
    finally:
        assert worker.terminate() == 0
    failures = stack.events(AuditAction.DELIVERY_FAILED)
    [delivered] = stack.events(AuditAction.CONTRIBUTION_DELIVERED)
    assert [event.details["attempt"] for event in failures] == [1, 2, 3]
    assert {event.details["code"] for event in failures} == {"cms_http_500"}
    assert delivered.details["attempt"] == 4
    times = [event.occurred_at for event in (*failures, delivered)]
    gaps = [
        (later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)
    ]
    # Backoff of 0.5 s × 2^(attempt-1), jittered to between half and all of it.
    for gap, least in zip(gaps, (0.25, 0.5, 1.0), strict=True):
        assert gap >= least, gaps
    assert gaps[2] > gaps[0]
    assert_exactly_once(stack, 1)


def test_a_refusal_dead_letters_at_once_with_its_reason(stack: Stack) -> None:
    refused, reused = stack.outbox.accepted(2)
    rows = {row.id: row for row in stack.rows()}
    # Someone else already used the second delivery's key with another body.
    planted = stack.cms.post(rows[reused].idempotency_key, cms_body())
    assert planted.status_code == 201
    stack.cms.faults(reject_next=1)
    worker = stack.worker("strict", "--once")
    assert worker.wait() == 0, worker.output()
    rows = {row.id: row for row in stack.rows()}
    assert {row.status for row in rows.values()} == {OutboxStatus.DEAD_LETTERED}
    assert {row.attempts for row in rows.values()} == {1}
    reasons = {row.last_error for row in rows.values()}
    assert reasons == {
        "cms_http_422: answers",
        "cms_http_422: idempotency_key_reused",
    }
    assert len(stack.cms.records()) == 1  # only the planted one
    dead = stack.events(AuditAction.DELIVERY_DEAD_LETTERED)
    assert sorted(event.details["code"] for event in dead) == ["cms_http_422"] * 2
    assert not stack.events(AuditAction.DELIVERY_FAILED)
    assert "Delivered 0, retrying 0, dead-lettered 2." in worker.output()


def test_three_workers_deliver_five_hundred_exactly_once(stack: Stack) -> None:
    stack.outbox.accepted(500)
    # A few failures on the way: errors, and answers lost after the CMS committed.
    stack.cms.faults(fail_next=5, drop_after_commit_next=5)
    workers = [stack.worker(f"crew-{number}", batch_size=5) for number in range(3)]
    try:
        wait_until(lambda: stack.all_delivered(500), timeout=180, message="500 deliveries")
    finally:
        assert [worker.terminate() for worker in workers] == [0, 0, 0]
    assert_exactly_once(stack, 500)
    names = {event.details["worker"] for event in stack.events(AuditAction.CONTRIBUTION_DELIVERED)}
    assert names == {"crew-0", "crew-1", "crew-2"}, "the work was shared"
    assert len(stack.events(AuditAction.DELIVERY_FAILED)) == 10


def test_a_worker_stopped_mid_run_gives_back_its_claims_and_a_new_one_finishes(
    stack: Stack,
) -> None:
    stack.outbox.accepted(40)
    stack.cms.faults(delay_next=40, delay_seconds=0.2)  # a slow CMS
    first = stack.worker("first", batch_size=10, lease_seconds=600)
    wait_until(
        lambda: stack.statuses().get(OutboxStatus.DELIVERED, 0) >= 5, message="some deliveries"
    )
    started = time.monotonic()
    assert first.terminate() == 0
    assert time.monotonic() - started < 5, "it finished its send in flight, no more"
    assert "Stopped." in first.output()
    pending = [row for row in stack.rows() if row.status == OutboxStatus.PENDING]
    assert pending, "the test stopped the worker too late"
    # Its unstarted claims were given back: due now, attempt not counted, no lease (600 s).
    assert all(row.claimed_by is None and row.attempts == 0 for row in pending)

    second = stack.worker("second", batch_size=10)
    try:
        wait_until(lambda: stack.all_delivered(40), timeout=60, message="the rest")
    finally:
        assert second.terminate() == 0
    assert_exactly_once(stack, 40)


def test_reconciliation_reports_every_difference(stack: Stack) -> None:
    delivered = stack.outbox.accepted(3, documents=1)
    worker = stack.worker("reconciled", "--once")
    assert worker.wait() == 0, worker.output()
    assert stack.all_delivered(3)
    clean = reconcile(stack)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No differences." in clean.stdout

    rows = {row.id: row for row in stack.rows()}
    removed = rows[delivered[0]]
    assert removed.cms_record_id is not None
    stack.cms.delete(removed.cms_record_id)  # deleted from the CMS by hand
    [unrecorded_id] = stack.outbox.accepted(1)
    unrecorded = next(row for row in stack.rows() if row.id == unrecorded_id)
    # The CMS got it, but the portal never recorded it (a worker lost between the two).
    assert stack.cms.post(unrecorded.idempotency_key, cms_body("DR-LOST0001")).status_code == 201
    stranger = f"elsewhere-{uuid.uuid4()}"
    assert stack.cms.post(stranger, cms_body("DR-ELSE0001")).status_code == 201

    report = reconcile(stack)
    assert report.returncode == 1
    output = report.stdout
    assert "Checked 3 deliveries the portal recorded against 4 records the CMS holds." in output
    assert "3 differences:" in output
    assert (
        f"missing_from_cms: key {removed.idempotency_key}; portal delivered {removed.cms_record_id}"
        in output
    )
    assert f"not_recorded_by_portal: key {unrecorded.idempotency_key}; portal pending" in output
    assert f"unknown_to_portal: key {stranger}; portal - -" in output
    [event] = stack.events(AuditAction.DELIVERIES_RECONCILED)[-1:]
    assert event.details["differences"] == 3
    assert event.details["missing_from_cms"] == 1


def reconcile(stack: Stack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "portal.cli", "cms", "reconcile"],
        env=stack.environment(),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_on_sqlite_one_worker_delivers_and_a_second_is_refused(
    keyring: FileKeyring, keyring_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "portal.db"
    engine = migrated_engine(f"sqlite:///{path}", keyring)
    cms = ReferenceCms(tmp_path).start()
    try:
        with Session(engine) as session:
            Outbox(session, keyring, tmp_path / "files").accepted(3, documents=1)
        environment = worker_environment(f"sqlite:///{path}", keyring_path, tmp_path / "files", cms)
        with open(f"{path}.worker-lock", "a") as lock:  # as a running worker holds it
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            refused = WorkerProcess(environment, tmp_path / "refused.log", "--once")
            assert refused.wait() != 0
            assert "SQLite runs one at a time" in refused.output()
        worker = WorkerProcess(environment, tmp_path / "sqlite.log", "--once")
        assert worker.wait() == 0, worker.output()
        assert "Delivered 3, retrying 0, dead-lettered 0." in worker.output()
        assert len(cms.records()) == 3
        with Session(engine) as session:
            statuses = set(session.scalars(sa.select(OutboxMessage.status)))
        assert statuses == {OutboxStatus.DELIVERED}
    finally:
        cms.stop()
        engine.dispose()


def test_the_worker_serves_its_metrics(stack: Stack) -> None:
    stack.outbox.accepted(2)
    stack.cms.faults(fail_next=1)
    port = free_port()
    worker = stack.worker("watched", "--metrics-port", str(port))
    try:
        wait_until(lambda: stack.all_delivered(2), message="two deliveries")
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        assert worker.terminate() == 0
    assert "portal_cms_outbox_pending 0.0" in metrics
    assert "portal_cms_outbox_delivered 2.0" in metrics
    assert "portal_cms_outbox_dead_lettered 0.0" in metrics
    assert "portal_cms_outbox_oldest_pending_age_seconds 0.0" in metrics
    assert "portal_cms_deliveries_total 2.0" in metrics
    assert 'portal_cms_delivery_failures_total{code="cms_http_500",final="false"} 1.0' in metrics


def test_a_delivery_under_a_key_version_this_host_lacks_waits_for_the_keyring_file(
    stack: Stack, tmp_path: Path
) -> None:
    keys, _ = read_keyring_keys(stack.keyring_path)
    [damaged] = stack.outbox.accepted(1)
    with Session(stack.engine) as session, session.begin():  # its data key no longer authenticates
        contribution = session.get_one(
            Contribution, session.get_one(OutboxMessage, damaged).contribution_id
        )
        data_key = session.get_one(DataKey, contribution.data_key_id)
        assert data_key.wrapped_key is not None
        data_key.wrapped_key = data_key.wrapped_key[:-1] + bytes([data_key.wrapped_key[-1] ^ 1])
    # Another host rotates the key: version 2 is registered, and new contributions use it.
    key_2 = new_data_key()
    with Session(stack.engine) as session, session.begin():
        session.add(new_key_check(2, key_2))
    stack.outbox.keyring = FileKeyring({**keys, 2: key_2}, 2)
    [rotated] = stack.outbox.accepted(1, documents=1)
    # This host's worker has the keyring file from before the rotation.
    here = tmp_path / "host-b" / "keyring.json"
    write_new_private_file(here, stack.keyring_path.read_bytes())
    environment = stack.environment(max_attempts=60) | {"PORTAL_KEYRING__PATH": str(here)}
    worker = WorkerProcess(environment, stack.logs / "host-b.log", "--name", "host-b")
    try:
        # A claim counts its attempt before the attempt fails, so wait for the failures
        # themselves: three recorded, or the row no longer pending.
        wait_until(
            lambda: (
                len(stack.events(AuditAction.DELIVERY_FAILED)) >= 3
                or outbox_row(stack, rotated).status != OutboxStatus.PENDING
            ),
            message="failed attempts before the file",
        )
        waiting, dead = outbox_row(stack, rotated), outbox_row(stack, damaged)
        assert (waiting.status, waiting.last_error) == (
            OutboxStatus.PENDING,
            "key_version_unknown: UnknownKeyVersion",
        )
        # A key that does not authenticate never gets better: dead-lettered at once.
        assert (dead.status, dead.attempts, dead.last_error) == (
            OutboxStatus.DEAD_LETTERED,
            1,
            "content_unavailable: DecryptionError",
        )
        stage_keyring(here, {**keys, 2: key_2}, 2).publish()  # the new file reaches this host
        wait_until(
            lambda: outbox_row(stack, rotated).status == OutboxStatus.DELIVERED,
            message="delivery once the keyring file is copied",
        )
    finally:
        assert worker.terminate() == 0
    failures = stack.events(AuditAction.DELIVERY_FAILED)
    assert len(failures) >= 3
    assert {event.details["code"] for event in failures} == {"key_version_unknown"}
    [dead_lettered] = stack.events(AuditAction.DELIVERY_DEAD_LETTERED)
    assert dead_lettered.details["code"] == "content_unavailable"
    [record] = stack.cms.records()
    assert record["record_id"] == outbox_row(stack, rotated).cms_record_id
    assert_nothing_sensitive_logged(stack)


def outbox_row(stack: Stack, row_id: uuid.UUID) -> OutboxMessage:
    with Session(stack.engine) as session:
        return session.get_one(OutboxMessage, row_id)
