"""PostgreSQL restarted under the background processes: a `portal worker` delivering accepted
contributions to the reference CMS, and `portal notifications send --every 1` e-mailing the
social worker through a real SMTP server on loopback, while the fault tests' own cluster stops
and starts again.

Work is queued before the restart, caught in flight by it and queued after it. In flight means
the CMS has committed a record and holds its answer until the database is down, and the SMTP
server holds a message until the database is down: each process then has an outcome to record
with no database to record it in.

The same two processes (never exited) log the outage once each, by the error's type only, and
carry on with the work in hand once the database is back: every contribution reaches the CMS
exactly once (one record per idempotency key; the worker records the delivery answered during
the outage once the database answers, and never sends it again), and every e-mail is sent
exactly once (the sender records the e-mail it sent during the outage once the database
answers, rather than leaving it to be sent a second time when its lease runs out)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.processes import (
    ProjectProcess,
    WorkerProcess,
    free_port,
    log_tails,
    portal_command,
    wait_until,
)
from portal.audit import AuditAction
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from portal.lifecycle import OutboxStatus
from portal.models import (
    Contribution,
    DelegationRequest,
    Notification,
    NotificationStatus,
    OutboxMessage,
)
from portal.notifications import notify_worker_of_submission
from tests.faults.portal_data import migrated_database
from tests.faults.servers import PrivatePostgres
from tests.faults.test_database_restart import EXCEPTION_TEXT
from tests.integration.test_notifications import MailCatcher
from tests.support.audit_log import events, settle
from tests.support.audit_tree import assert_one_tree
from tests.support.deliveries import Outbox, worker_environment

pytestmark = pytest.mark.postgres

BATCH = 3  # contributions, each with its e-mail, queued before, in flight at, and after it
OUTAGE_SECONDS = 3.0  # the least the database stays down
# The CMS holds its answer to the delivery in flight this long after committing its record:
# past the stop (which follows at once), so the answer comes while the database is down.
CMS_HOLD_SECONDS = 5.0
WAIT_SECONDS = 60.0  # the most any step may take: recovering matters here, not speed
# What each process logs once when the database stops answering, and once when it is back
# (portal/db_outage.py).
OUTAGE_LOGGED = "the database is unreachable"
BACK_LOGGED = "the database answers again"
CMS_HOLDING = "fault: holding the answer after commit"
CMS_ANSWERED = "/contributions 20"  # the CMS's access line for a stored contribution (200, 201)


@dataclass
class HeldMail(MailCatcher):
    """Keeps every message it is given; while `holding` is set, a sender's DATA waits for its
    answer (`held` is then set), so the e-mail is in flight until the hold is lifted."""

    holding: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        while self.holding.is_set():
            self.held.set()
            await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def smtp_server() -> Iterator[tuple[int, HeldMail]]:
    mail = HeldMail()
    port = free_port()
    controller = Controller(mail, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mail
    finally:
        mail.holding.clear()
        controller.stop()


class Work:
    """Accepted contributions waiting in the outbox, each with an e-mail queued to the social
    worker saying it was submitted."""

    def __init__(self, engine: Engine, keyring: FileKeyring, files: Path) -> None:
        self.engine = engine
        self.session = Session(engine, expire_on_commit=False)
        self.outbox = Outbox(self.session, keyring, files)
        self.references: list[str] = []

    def queue(self, count: int) -> list[str]:
        ids = self.outbox.accepted(count)
        requests = self.session.scalars(
            sa.select(DelegationRequest)
            .join(Contribution, Contribution.request_id == DelegationRequest.id)
            .join(OutboxMessage, OutboxMessage.contribution_id == Contribution.id)
            .where(OutboxMessage.id.in_(ids))
        ).all()
        for request in requests:
            assert notify_worker_of_submission(self.session, request) == 1
        self.session.commit()
        self.references += [request.reference for request in requests]
        return [request.reference for request in requests]

    def all_done(self) -> bool:
        """Every contribution queued is recorded delivered, and every e-mail recorded sent."""
        with Session(self.engine) as session:
            delivered = session.scalar(
                sa.select(sa.func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.DELIVERED)
            )
            sent = session.scalar(
                sa.select(sa.func.count())
                .select_from(Notification)
                .where(Notification.status == NotificationStatus.SENT)
            )
        return delivered == sent == len(self.references)


class Exited(AssertionError):
    pass


class Processes:
    """The two background processes under test, each with its log."""

    def __init__(self, environment: dict[str, str], directory: Path) -> None:
        self.directory = directory
        self.worker = WorkerProcess(environment, directory / "worker.log")
        command = portal_command("notifications", "send", "--every", "1")
        self.sender = ProjectProcess(command, environment, directory / "notifications.log")
        self.logs = {"worker": self.worker.log, "notifications": directory / "notifications.log"}

    def log(self, name: str) -> str:
        return self.logs[name].read_text(encoding="utf-8", errors="replace")

    def wait(self, check: Callable[[], object], what: str) -> None:
        """Wait for `check`, failing at once (with every log) if either process has exited."""

        def alive_and_done() -> object:
            for name, process in (("worker", self.worker.process), ("sender", self.sender.process)):
                if process.poll() is not None:
                    raise Exited(f"the {name} exited ({process.returncode}) waiting for {what}")
            return check()

        try:
            wait_until(alive_and_done, WAIT_SECONDS, what)
        except AssertionError as error:  # exited, or timed out
            raise AssertionError(f"{error}\n{log_tails(self.directory)}") from None

    def stop(self) -> tuple[int, int]:
        """Stop both (SIGTERM); their exit statuses."""
        worker = self.worker.terminate()
        self.sender.stop()
        return worker, self.sender.process.returncode


def test_the_worker_and_the_sender_ride_out_a_database_restart_and_do_everything_once(
    cluster: PrivatePostgres,
    tmp_path: Path,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
) -> None:
    engine = migrated_database(cluster, keyring, "background")
    (tmp_path / "cms").mkdir()
    cms = ReferenceCms(tmp_path / "cms")
    cms_log = tmp_path / "cms" / "cms.log"
    with ExitStack() as running:
        running.callback(engine.dispose)
        running.callback(started_again, cluster)
        work = Work(engine, keyring, tmp_path / "files")
        running.callback(work.session.close)
        cms.start()
        running.callback(cms.stop)
        smtp_port, mail = running.enter_context(smtp_server())
        environment = worker_environment(
            cluster.database_url("background"), keyring_path, tmp_path / "files", cms
        ) | {
            "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
            "PORTAL_NOTIFICATIONS__SMTP_PORT": str(smtp_port),
        }
        processes = Processes(environment, tmp_path)
        running.callback(processes.stop)

        # Working, before anything breaks.
        work.queue(BATCH)
        processes.wait(work.all_done, "the first contributions delivered and e-mails sent")

        # Caught in flight: the CMS holds its answer to one delivery, the SMTP server one e-mail.
        cms.faults(hold_after_commit_next=1, hold_seconds=CMS_HOLD_SECONDS)
        mail.holding.set()
        work.queue(BATCH)
        processes.wait(
            lambda: CMS_HOLDING in cms_log.read_text() and mail.held.is_set(),
            "a delivery and an e-mail in flight",
        )
        cluster.stop()
        down_at = time.monotonic()
        mail.holding.clear()  # the e-mail is sent; the sender has no database to record it in
        assert CMS_ANSWERED not in cms_log.read_text().rsplit(CMS_HOLDING, 1)[1], (
            "the CMS answered before the database was down: CMS_HOLD_SECONDS is too short here"
        )

        def outage_met() -> bool:
            """The database down long enough, the CMS's held answer given while it was, and
            each process told of the outage (so each has met it with an outcome to record)."""
            held_and_after = cms_log.read_text().rsplit(CMS_HOLDING, 1)[1]
            return (
                time.monotonic() - down_at >= OUTAGE_SECONDS
                and CMS_ANSWERED in held_and_after
                and all(OUTAGE_LOGGED in processes.log(name) for name in processes.logs)
            )

        processes.wait(outage_met, "both processes to meet the outage")
        cluster.start()
        # The test's own pooled connections ended with the restart too: it starts afresh (the
        # processes under test find theirs dead and ride that out themselves).
        engine.dispose()

        # Queued after it, and everything done once the database is back.
        work.queue(BATCH)
        processes.wait(work.all_done, "every contribution delivered and every e-mail sent")
        assert processes.stop() == (0, 0), log_tails(tmp_path)

        for name in processes.logs:
            text = processes.log(name)
            assert text.count(OUTAGE_LOGGED) == 1, f"{name} logged the outage not once:\n{text}"
            assert text.count(BACK_LOGGED) == 1, f"{name} logged the recovery not once:\n{text}"
            found = [shown for shown in ("Traceback", *EXCEPTION_TEXT) if shown in text]
            assert not found, f"the {name}'s log holds {found}:\n{text}"
        # The delivery answered during the outage was recorded once the database was back,
        # never sent again (the CMS would have answered a repeat with 200, the record it holds).
        assert cms_log.read_text().count("/contributions 200") == 0
        check_each_delivered_once(engine, cms, len(work.references))
        check_each_e_mail_sent_once(engine, mail, work)
        with Session(engine) as session:
            placed = assert_one_tree(session)
            head = settle(session, CheckpointSigner.load(audit_key_path))
            assert head is not None and head.tree_size == len(placed)


def started_again(cluster: PrivatePostgres) -> None:
    """The cluster serves the other fault tests: started again if this one failed while down."""
    if not cluster.running():
        cluster.start()


def check_each_delivered_once(engine: Engine, cms: ReferenceCms, expected: int) -> None:
    """One CMS record for each contribution, under its key, and the portal holds it: the outbox
    row delivered with that record's id, and one delivery event in the audit trail."""
    held = {record["idempotency_key"]: record["record_id"] for record in cms.records()}
    assert len(cms.records()) == len(held) == expected
    with Session(engine) as session:
        rows = session.execute(
            sa.select(OutboxMessage.idempotency_key, OutboxMessage.status)
            .add_columns(OutboxMessage.cms_record_id)
            .where(OutboxMessage.status == OutboxStatus.DELIVERED)
        ).all()
        assert {row.idempotency_key: row.cms_record_id for row in rows} == held
        assert len(events(session, AuditAction.CONTRIBUTION_DELIVERED)) == expected


def check_each_e_mail_sent_once(engine: Engine, mail: HeldMail, work: Work) -> None:
    """One e-mail about each contribution, to the social worker who asked; each notification
    sent on its first attempt, with one audit event."""
    received = [message.raw.decode() for message in mail.received]
    assert len(received) == len(work.references)
    for reference in work.references:
        assert sum(reference in message for message in received) == 1, reference
    assert {to for message in mail.received for to in message.to} == {work.outbox.worker.email}
    with Session(engine) as session:
        sent = session.execute(sa.select(Notification.status, Notification.attempts)).all()
        assert set(sent) == {(NotificationStatus.SENT, 1)} and len(sent) == len(work.references)
        assert len(events(session, AuditAction.NOTIFICATION_SENT)) == len(work.references)
