"""E-mail notifications end to end: queued in the database, sent by the background sender to a
real SMTP server on loopback (aiosmtpd), retried, given up on, audited, and never carrying
personal data."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import free_port
from portal.audit import AuditAction
from portal.config import Settings
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import (
    AuditEvent,
    DelegationRequest,
    Notification,
    NotificationKind,
    NotificationStatus,
    OrganisationKind,
    OrganisationStage,
    OrganisationStatus,
    Role,
    User,
    UserStatus,
)
from portal.notifications import (
    enqueue,
    notify_partner_accepted,
    notify_partner_of_new_request,
    notify_partner_returned,
    notify_worker_of_submission,
    reschedule_reminders,
    schedule_reminders,
)
from portal.notifications.messages import Message, compose
from portal.notifications.senders import NotifySender, SmtpSender, sender_for
from portal.notifications.sink import serve
from portal.notifications.worker import LEASE, send_due
from portal.settings import ServiceSettings
from tests.conftest import both_backends, test_settings
from tests.factories import make_case, make_organisation, make_request, make_user

UK = ZoneInfo("Europe/London")
BASE_URL = "https://portal.northmoor.example"
CHILD_NAME = "Amelia Hartington-Voss"
PURPOSE = "Strategy discussion after a disclosure at school on Tuesday: attendance and injuries."


# --- A real SMTP server on loopback -------------------------------------------------------------


@dataclass
class Received:
    to: list[str]
    raw: bytes

    @property
    def email(self) -> EmailMessage:
        return cast(EmailMessage, message_from_bytes(self.raw, policy=policy.default))


@dataclass
class MailCatcher:
    """An aiosmtpd handler keeping every message it is given, optionally slowly."""

    delay: float = 0.0
    refuse_recipients: str | None = None  # an SMTP reply to every RCPT TO, e.g. "550 …"
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return self.refuse_recipients
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.received.append(Received(list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    catcher: MailCatcher
    controller: Controller
    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    catcher = MailCatcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    server = SmtpServer(port, catcher, controller)
    yield server
    server.stop()


def notification_settings(engine: Engine, keyring_path: Path, **notifications: Any) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        service={"base_url": BASE_URL},
        notifications={"max_attempts": 3, **notifications},
    )


@pytest.fixture
def mail_settings(engine: Engine, keyring_path: Path, smtp_server: SmtpServer) -> Settings:
    return notification_settings(engine, keyring_path, smtp_port=smtp_server.port)


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """What the sender is given: sessions on the test's connection, committing savepoints."""
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


# --- People and a request -----------------------------------------------------------------------


@dataclass
class World:
    request: DelegationRequest
    cms_reference: str
    worker: User
    teacher: User
    lead: User
    everyone: list[User]


def build_world(session: Session, keyring: FileKeyring, partner_people: int = 0) -> World:
    cipher = RecordCipher(keyring, session)
    case, child = make_case(session, cipher, CHILD_NAME)
    council = make_organisation(session, OrganisationKind.COUNCIL)
    worker = make_user(session, council, Role.SOCIAL_WORKER)
    school = make_organisation(session, OrganisationKind.SCHOOL)
    teacher = make_user(session, school, Role.PARTNER_CONTRIBUTOR)
    lead = make_user(session, school, Role.PARTNER_LEAD)
    more = [make_user(session, school, Role.PARTNER_CONTRIBUTOR) for _ in range(partner_people)]
    request = make_request(session, cipher, case, school, worker)
    request.children = [child]
    cipher.seal_text(request, "purpose_enc", PURPOSE)
    session.flush()
    return World(request, case.cms_reference, worker, teacher, lead, [worker, teacher, lead, *more])


@pytest.fixture
def world(db_session: Session, keyring: FileKeyring) -> World:
    return build_world(db_session, keyring)


def notifications_of(session: Session, request: DelegationRequest) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(sa.select(Notification).where(Notification.request_id == request.id))
    )


def audit_events(session: Session, action: AuditAction) -> list[AuditEvent]:
    return list(
        session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.seq)
        )
    )


def personal_data(world: World, child_name: str = CHILD_NAME) -> list[str]:
    return [child_name, PURPOSE, world.cms_reference, *(p.display_name for p in world.everyone)]


# --- What arrives -------------------------------------------------------------------------------


@both_backends
def test_each_kind_arrives_with_its_reference_and_link_and_no_personal_data(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    request = world.request
    sender = SmtpSender(host="127.0.0.1", port=smtp_server.port, from_address="no-reply@a.test")
    assert notify_partner_of_new_request(db_session, request) == 2  # no named recipient: both
    enqueue(db_session, NotificationKind.REQUEST_DUE_SOON, [world.teacher.id], request)
    notify_partner_returned(db_session, request, world.teacher.id)
    notify_partner_accepted(db_session, request, world.teacher.id)
    notify_worker_of_submission(db_session, request)
    db_session.commit()
    counts = send_due(sessions, sender, mail_settings)
    assert (counts.sent, counts.retrying, counts.failed) == (6, 0, 0)

    request.due_on = date.today() - timedelta(days=2)  # now it is overdue
    enqueue(db_session, NotificationKind.REQUEST_OVERDUE, [world.teacher.id], request)
    db_session.commit()
    assert send_due(sessions, sender, mail_settings).sent == 1

    received = smtp_server.catcher.received
    assert len(received) == 7
    subjects: dict[str, list[str]] = {}
    for mail in received:
        (to,) = mail.to
        email = mail.email
        assert email["To"] == to
        subjects.setdefault(to, []).append(str(email["Subject"]))
        body = email.get_content()
        assert request.reference in str(email["Subject"]) and request.reference in body
        section = "requests" if to == world.worker.email else "inbox"
        assert f"{BASE_URL}/{section}/{request.reference}" in body
        # Nothing personal anywhere in the raw message, headers included: not the child, not
        # why they were asked, not anyone's name, not any other address.
        # Both as sent and as decoded, so no transfer encoding could hide anything.
        raw = mail.raw.decode("utf-8", errors="replace")
        text = f"{raw}\n{email['Subject']}\n{body}"
        for secret in personal_data(world):
            assert secret not in text
        for person in world.everyone:
            assert person.email is not None
            if person.email != to:
                assert person.email not in text
    assert len(subjects[cast(str, world.teacher.email)]) == 5
    assert len(subjects[cast(str, world.lead.email)]) == 1
    assert len(subjects[cast(str, world.worker.email)]) == 1

    assert {n.status for n in notifications_of(db_session, request)} == {NotificationStatus.SENT}
    sent_events = audit_events(db_session, AuditAction.NOTIFICATION_SENT)
    assert len(sent_events) == 7
    for event in sent_events:
        assert event.object_id == request.reference
        assert set(event.details) == {"kind", "notification_id", "recipient_id", "attempt"}
        assert "@" not in json.dumps(event.details)


def test_enqueueing_is_idempotent(db_session: Session, world: World) -> None:
    request = world.request
    assert notify_partner_of_new_request(db_session, request) == 2
    assert notify_partner_of_new_request(db_session, request) == 0
    assert (
        enqueue(db_session, NotificationKind.REQUEST_ISSUED, [world.teacher.id] * 3, request) == 0
    )
    assert notify_partner_accepted(db_session, request, world.teacher.id) == 1
    assert notify_partner_accepted(db_session, request, world.teacher.id) == 0
    assert len(notifications_of(db_session, request)) == 3


def test_news_that_can_recur_is_queued_again_once_the_last_was_sent(
    db_session: Session, world: World
) -> None:
    request = world.request
    assert notify_worker_of_submission(db_session, request) == 1
    assert notify_worker_of_submission(db_session, request) == 0  # still waiting: it will do
    (waiting,) = notifications_of(db_session, request)
    waiting.status = NotificationStatus.SENT
    waiting.attempts = 1
    waiting.sent_at = datetime.now(UTC)
    db_session.flush()

    assert notify_worker_of_submission(db_session, request) == 1  # a resubmission
    (again,) = notifications_of(db_session, request)
    assert (again.id, again.status, again.attempts, again.sent_at) == (
        waiting.id,
        NotificationStatus.PENDING,
        0,
        None,
    )


def test_a_named_recipient_alone_is_told_of_a_new_request(
    db_session: Session, world: World
) -> None:
    world.request.named_recipient_id = world.teacher.id
    assert notify_partner_of_new_request(db_session, world.request) == 1
    (only,) = notifications_of(db_session, world.request)
    assert only.recipient_id == world.teacher.id


# --- Reminders ----------------------------------------------------------------------------------


def uk_noon(day: date) -> datetime:
    return datetime.combine(day, clock(12), tzinfo=UK).astimezone(UTC)


def reminders(
    session: Session, request: DelegationRequest
) -> list[tuple[NotificationKind, uuid.UUID]]:
    return sorted(
        (n.kind, n.recipient_id)
        for n in notifications_of(session, request)
        if n.kind in (NotificationKind.REQUEST_DUE_SOON, NotificationKind.REQUEST_OVERDUE)
    )


@both_backends
def test_reminders_go_n_days_before_the_due_date_and_the_day_after_it_once_each(
    db_session: Session, world: World
) -> None:
    request = world.request
    due = request.due_on
    request.issued_at = uk_noon(due - timedelta(days=10))
    request.expires_at = uk_noon(due + timedelta(days=30))
    db_session.flush()
    people = sorted([world.teacher.id, world.lead.id])

    def schedule(day: date) -> None:
        schedule_reminders(db_session, uk_noon(day), days_before_due=2)

    schedule(due - timedelta(days=3))
    assert reminders(db_session, request) == []

    schedule(due - timedelta(days=2))
    schedule(due - timedelta(days=2))
    schedule(due - timedelta(days=1))
    schedule(due)  # due today: not yet overdue
    soon = [(NotificationKind.REQUEST_DUE_SOON, person) for person in people]
    assert reminders(db_session, request) == soon

    schedule(due + timedelta(days=1))
    schedule(due + timedelta(days=2))
    overdue = [(NotificationKind.REQUEST_OVERDUE, person) for person in people]
    assert reminders(db_session, request) == sorted(soon + overdue)


def test_no_due_soon_reminder_for_a_request_issued_inside_the_window(
    db_session: Session, world: World
) -> None:
    request = world.request
    request.issued_at = uk_noon(request.due_on - timedelta(days=1))
    db_session.flush()
    schedule_reminders(db_session, uk_noon(request.due_on), days_before_due=2)
    assert reminders(db_session, request) == []


@pytest.mark.parametrize(
    "status", [RequestStatus.SUBMITTED, RequestStatus.ACCEPTED, RequestStatus.REVOKED]
)
def test_no_reminders_for_a_request_that_is_answered_or_closed(
    db_session: Session, world: World, status: RequestStatus
) -> None:
    request = world.request
    request.issued_at = uk_noon(request.due_on - timedelta(days=10))
    request.status = status
    db_session.flush()
    schedule_reminders(db_session, uk_noon(request.due_on + timedelta(days=1)), days_before_due=2)
    assert reminders(db_session, request) == []


def test_a_new_due_date_reschedules_the_reminders_and_stale_ones_are_not_sent(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    request = world.request
    request.issued_at = uk_noon(request.due_on - timedelta(days=20))
    request.due_on = date.today() - timedelta(days=2)
    schedule_reminders(db_session, datetime.now(UTC), days_before_due=2)
    assert {kind for kind, _ in reminders(db_session, request)} == {
        NotificationKind.REQUEST_OVERDUE
    }

    # Extended before the overdue reminders went: they are stale, and are forgotten.
    request.due_on = date.today() + timedelta(days=1)
    db_session.commit()
    stale = send_due(sessions, sender_for(mail_settings), mail_settings)
    assert (stale.sent, stale.failed) == (0, 2)
    assert {n.last_error for n in notifications_of(db_session, request)} == {"no_longer_due"}
    assert reschedule_reminders(db_session, request) == 2
    schedule_reminders(db_session, datetime.now(UTC), days_before_due=2)
    assert {kind for kind, _ in reminders(db_session, request)} == {
        NotificationKind.REQUEST_DUE_SOON
    }
    db_session.commit()
    assert send_due(sessions, sender_for(mail_settings), mail_settings).sent == 2
    assert smtp_server.catcher.received and all(
        "due soon" in str(mail.email["Subject"]) for mail in smtp_server.catcher.received
    )


# --- Failures -----------------------------------------------------------------------------------


def test_an_unreachable_relay_is_retried_with_backoff_then_given_up_on_with_audit_events(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    smtp_server.stop()
    notify_partner_accepted(db_session, world.request, world.teacher.id)
    db_session.commit()
    sender = sender_for(mail_settings)
    start = datetime.now(UTC)

    counts = send_due(sessions, sender, mail_settings, start)
    assert (counts.sent, counts.retrying, counts.failed) == (0, 1, 0)
    (notification,) = notifications_of(db_session, world.request)
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1 and notification.last_error == "smtp_unreachable"
    first_wait = notification.next_attempt_at - start
    assert timedelta(seconds=30) <= first_wait <= timedelta(seconds=60)

    # Not due again yet: nothing is attempted.
    assert send_due(sessions, sender, mail_settings, start + timedelta(seconds=29)).retrying == 0

    second = notification.next_attempt_at
    assert send_due(sessions, sender, mail_settings, second).retrying == 1
    (notification,) = notifications_of(db_session, world.request)
    second_wait = notification.next_attempt_at - second
    assert timedelta(seconds=60) <= second_wait <= timedelta(seconds=120)

    counts = send_due(sessions, sender, mail_settings, notification.next_attempt_at)
    assert (counts.sent, counts.retrying, counts.failed) == (0, 0, 1)
    (notification,) = notifications_of(db_session, world.request)
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 3 and notification.last_error == "smtp_unreachable"

    events = audit_events(db_session, AuditAction.NOTIFICATION_FAILED)
    assert [(e.details["attempt"], e.details["final"]) for e in events] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    for event in events:
        assert event.details["code"] == "smtp_unreachable"
        assert event.details["notification_id"] == str(notification.id)
        assert event.details["kind"] == "contribution_accepted"
        assert event.case_reference == world.cms_reference
        assert "@" not in json.dumps(event.details)
    # Given up: later passes leave it alone.
    later = notification.next_attempt_at + timedelta(days=1)
    assert send_due(sessions, sender, mail_settings, later).failed == 0


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("550 5.1.1 No such mailbox", NotificationStatus.FAILED),
        ("451 4.7.1 Greylisted, try again later", NotificationStatus.PENDING),
    ],
)
def test_a_refused_address_fails_at_once_and_a_deferred_one_is_retried(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
    reply: str,
    status: NotificationStatus,
) -> None:
    smtp_server.catcher.refuse_recipients = reply
    notify_partner_accepted(db_session, world.request, world.teacher.id)
    db_session.commit()
    send_due(sessions, sender_for(mail_settings), mail_settings)
    (notification,) = notifications_of(db_session, world.request)
    assert (notification.status, notification.last_error) == (status, "smtp_recipient_refused")
    (event,) = audit_events(db_session, AuditAction.NOTIFICATION_FAILED)
    assert event.details["final"] is (status is NotificationStatus.FAILED)
    assert "@" not in json.dumps(event.details)


def test_a_suspended_recipient_is_not_e_mailed(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    notify_partner_of_new_request(db_session, world.request)
    world.teacher.status = UserStatus.SUSPENDED  # after queueing, before sending
    db_session.commit()

    counts = send_due(sessions, sender_for(mail_settings), mail_settings)
    assert (counts.sent, counts.failed) == (1, 1)
    assert [mail.to for mail in smtp_server.catcher.received] == [[world.lead.email]]
    failed = {n.recipient_id: n for n in notifications_of(db_session, world.request)}
    teachers = failed[world.teacher.id]
    assert teachers.status == NotificationStatus.FAILED
    assert (teachers.last_error, teachers.attempts) == ("recipient_inactive", 1)
    (event,) = audit_events(db_session, AuditAction.NOTIFICATION_FAILED)
    assert event.details["code"] == "recipient_inactive" and event.details["final"] is True


def test_a_revoked_request_is_never_pointed_at(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    notify_partner_of_new_request(db_session, world.request)
    world.request.status = RequestStatus.REVOKED
    db_session.commit()
    counts = send_due(sessions, sender_for(mail_settings), mail_settings)
    assert (counts.sent, counts.failed) == (0, 2)
    assert smtp_server.catcher.received == []
    assert {n.last_error for n in notifications_of(db_session, world.request)} == {"request_closed"}


def test_a_withdrawal_is_told_only_of_a_withdrawn_request_to_someone_who_could_open_it(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
    keyring: FileKeyring,
) -> None:
    # Issue 20: the one partner e-mail about a closed request. Someone at another school (a
    # programming error's recipient) is refused; so is the news once it is no longer true.
    stranger = make_user(
        db_session, make_organisation(db_session, OrganisationKind.SCHOOL), Role.PARTNER_LEAD
    )
    recipients = [world.teacher.id, stranger.id]
    enqueue(db_session, NotificationKind.REQUEST_WITHDRAWN, recipients, world.request)
    world.request.status = RequestStatus.REVOKED
    db_session.commit()

    counts = send_due(sessions, sender_for(mail_settings), mail_settings)

    assert (counts.sent, counts.failed) == (1, 1)
    (mail,) = smtp_server.catcher.received
    assert mail.to == [world.teacher.email]
    assert "has been withdrawn" in str(mail.email["Subject"])
    assert f"{BASE_URL}/inbox/{world.request.reference}" in mail.email.get_content()
    errors = {n.recipient_id: n.last_error for n in notifications_of(db_session, world.request)}
    assert errors == {world.teacher.id: None, stranger.id: "recipient_not_entitled"}

    other = make_request(
        db_session,
        RecordCipher(keyring, db_session),
        world.request.case,
        world.request.partner_organisation,
        world.worker,
    )
    enqueue(db_session, NotificationKind.REQUEST_WITHDRAWN, [world.teacher.id], other)
    db_session.commit()  # never withdrawn: an open request
    assert send_due(sessions, sender_for(mail_settings), mail_settings).failed == 1
    assert [n.last_error for n in notifications_of(db_session, other)] == ["no_longer_withdrawn"]


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        (OrganisationStatus.SUSPENDED, OrganisationStage.LIVE),
        (OrganisationStatus.ACTIVE, OrganisationStage.LEFT),
    ],
)
def test_no_request_e_mail_to_someone_whose_organisation_could_not_sign_in(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
    status: OrganisationStatus,
    stage: OrganisationStage,
) -> None:
    # Every kind about a request, the partner's and the council's alike: the sender checks
    # the organisation as signing in does (portal/auth/login.py).
    notify_partner_of_new_request(db_session, world.request)  # the teacher and the lead
    notify_worker_of_submission(db_session, world.request)
    enqueue(db_session, NotificationKind.REQUEST_WITHDRAWN, [world.lead.id], world.request)
    school = world.teacher.organisation
    school.status, school.stage = status, stage
    db_session.commit()

    counts = send_due(sessions, sender_for(mail_settings), mail_settings)

    assert (counts.sent, counts.failed) == (1, 3)
    assert [mail.to for mail in smtp_server.catcher.received] == [[world.worker.email]]
    errors = {
        (n.recipient_id, n.kind, n.last_error) for n in notifications_of(db_session, world.request)
    }
    refused = "organisation_not_in_service"
    assert errors == {
        (world.teacher.id, NotificationKind.REQUEST_ISSUED, refused),
        (world.lead.id, NotificationKind.REQUEST_ISSUED, refused),
        (world.lead.id, NotificationKind.REQUEST_WITHDRAWN, refused),
        (world.worker.id, NotificationKind.CONTRIBUTION_SUBMITTED, None),
    }


def test_a_passed_request_e_mails_only_whoever_it_is_still_with(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    # The lead passed it to the teacher, then (before the e-mail went) to themselves.
    enqueue(db_session, NotificationKind.REQUEST_PASSED, [world.teacher.id], world.request)
    world.request.named_recipient_id = world.lead.id
    db_session.commit()
    assert send_due(sessions, sender_for(mail_settings), mail_settings).failed == 1
    assert smtp_server.catcher.received == []
    (stale,) = notifications_of(db_session, world.request)
    assert stale.last_error == "no_longer_passed_to_them"

    world.request.named_recipient_id = world.teacher.id  # passed back: theirs again
    again = [world.teacher.id]
    enqueue(db_session, NotificationKind.REQUEST_PASSED, again, world.request, again=True)
    db_session.commit()
    assert send_due(sessions, sender_for(mail_settings), mail_settings).sent == 1
    assert [mail.to for mail in smtp_server.catcher.received] == [[world.teacher.email]]


class Crash(BaseException):
    """The sender process dying mid-send (no handler catches it)."""


class CrashingSender:
    def send(self, to: str, message: Message) -> None:
        raise Crash


def test_a_sender_that_dies_mid_send_leaves_a_lease_that_another_takes_over_when_it_ends(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    mail_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    notify_partner_accepted(db_session, world.request, world.teacher.id)
    db_session.commit()
    start = datetime.now(UTC)
    with pytest.raises(Crash):
        send_due(sessions, CrashingSender(), mail_settings, start)

    sender = sender_for(mail_settings)
    assert send_due(sessions, sender, mail_settings, start + LEASE / 2).sent == 0  # still leased
    assert smtp_server.catcher.received == []
    assert send_due(sessions, sender, mail_settings, start + LEASE * 2).sent == 1
    (notification,) = notifications_of(db_session, world.request)
    assert (notification.status, notification.attempts) == (NotificationStatus.SENT, 2)
    assert len(smtp_server.catcher.received) == 1


# --- Two senders at once ------------------------------------------------------------------------


@pytest.fixture
def committed_database(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Engine]:
    url = create_database(postgres_admin, "mail")
    engine = migrated_engine(url, keyring)
    yield engine
    engine.dispose()
    drop_database(postgres_admin, url)


def test_two_senders_at_once_on_postgresql_never_send_one_notification_twice(
    committed_database: Engine, keyring: FileKeyring, keyring_path: Path, smtp_server: SmtpServer
) -> None:
    smtp_server.catcher.delay = 0.01  # so the two senders' batches overlap
    people = 30
    with Session(committed_database) as session:
        world = build_world(session, keyring, partner_people=people - 2)
        assert notify_partner_of_new_request(session, world.request) == people
        session.commit()
        request_id = world.request.id
    settings = notification_settings(committed_database, keyring_path, smtp_port=smtp_server.port)
    start = threading.Barrier(2)
    sent_by: list[int] = []
    errors: list[BaseException] = []

    def run_sender() -> None:
        sessions = sessionmaker(committed_database, expire_on_commit=False)
        try:
            start.wait(timeout=10)
            counts = send_due(sessions, sender_for(settings), settings, batch_size=3)
            sent_by.append(counts.sent)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    senders = [threading.Thread(target=run_sender) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=120)
    assert not errors, errors
    assert sum(sent_by) == people and all(sent_by), sent_by

    recipients = [to for mail in smtp_server.catcher.received for to in mail.to]
    assert len(recipients) == people and len(set(recipients)) == people
    with Session(committed_database) as session:
        rows = session.scalars(sa.select(Notification).where(Notification.request_id == request_id))
        assert {(n.status, n.attempts) for n in rows} == {(NotificationStatus.SENT, 1)}
        events = audit_events(session, AuditAction.NOTIFICATION_SENT)
        assert len({e.details["notification_id"] for e in events}) == len(events) == people


# --- GOV.UK Notify ------------------------------------------------------------------------------


@dataclass
class NotifyStandIn:
    """A loopback stand-in for GOV.UK Notify's email endpoint, which this test environment
    cannot reach: it records each call and answers with the status it is told to."""

    base_url: str
    calls: list[tuple[str, dict[str, str], dict[str, Any]]]
    answer: list[int]


@pytest.fixture
def notify_stand_in() -> Iterator[NotifyStandIn]:
    calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    answer = [201]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's method name
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            calls.append((self.path, dict(self.headers), body))
            reply = json.dumps({"id": str(uuid.uuid4())}).encode()
            self.send_response(answer[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield NotifyStandIn(f"http://127.0.0.1:{server.server_address[1]}", calls, answer)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_notify_sender_posts_a_signed_request_with_only_the_reference_and_link(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    engine: Engine,
    keyring_path: Path,
    tmp_path: Path,
    notify_stand_in: NotifyStandIn,
) -> None:
    service_id, secret = str(uuid.uuid4()), str(uuid.uuid4())
    key_file = tmp_path / "notify-api-key"
    key_file.write_text(f"portal_test-{service_id}-{secret}\n", encoding="utf-8")
    key_file.chmod(0o600)
    template_id = str(uuid.uuid4())
    settings = notification_settings(
        engine,
        keyring_path,
        sender="notify",
        notify_api_key_file=str(key_file),
        notify_template_id=template_id,
        notify_base_url=notify_stand_in.base_url,
    )
    sender = sender_for(settings)
    assert isinstance(sender, NotifySender)
    notify_partner_returned(db_session, world.request, world.teacher.id)
    db_session.commit()

    assert send_due(sessions, sender, settings).sent == 1
    ((path, headers, body),) = notify_stand_in.calls
    assert path == "/v2/notifications/email"
    scheme, _, token = headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    decoded = jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"])
    assert decoded.claims["iss"] == service_id
    assert abs(decoded.claims["iat"] - time.time()) < 60
    reference = world.request.reference
    assert body == {
        "email_address": world.teacher.email,
        "template_id": template_id,
        "personalisation": {"reference": reference, "link": f"{BASE_URL}/inbox/{reference}"},
    }
    assert all(secret not in json.dumps(body) for secret in personal_data(world))


@pytest.mark.parametrize(
    ("status", "outcome", "code"),
    [
        (400, NotificationStatus.FAILED, "notify_rejected"),
        (503, NotificationStatus.PENDING, "notify_unavailable"),
    ],
)
def test_notify_refusals_fail_at_once_and_outages_are_retried(
    db_session: Session,
    world: World,
    sessions: sessionmaker[Session],
    engine: Engine,
    keyring_path: Path,
    notify_stand_in: NotifyStandIn,
    status: int,
    outcome: NotificationStatus,
    code: str,
) -> None:
    notify_stand_in.answer[0] = status
    sender = NotifySender(
        api_key=f"key-{uuid.uuid4()}-{uuid.uuid4()}",
        template_ids=dict.fromkeys(NotificationKind, str(uuid.uuid4())),
        base_url=notify_stand_in.base_url,
    )
    notify_partner_accepted(db_session, world.request, world.teacher.id)
    db_session.commit()
    send_due(sessions, sender, notification_settings(engine, keyring_path))
    (notification,) = notifications_of(db_session, world.request)
    assert (notification.status, notification.last_error) == (outcome, code)


# --- The demo's SMTP sink -----------------------------------------------------------------------


def test_the_development_smtp_sink_saves_each_message_as_a_private_eml_file(
    tmp_path: Path,
) -> None:
    port = free_port()
    stop = threading.Event()
    saved: list[Path] = []
    sink = threading.Thread(
        target=serve, args=("127.0.0.1", port, tmp_path / "mail", stop, saved.append)
    )
    sink.start()
    try:
        sender = SmtpSender(host="127.0.0.1", port=port, from_address="no-reply@portal.test")
        deadline = time.monotonic() + 10
        while True:  # the sink starts in its own thread
            try:
                message = compose(NotificationKind.REQUEST_ISSUED, "DR-7K2M9QXA", ServiceSettings())
                sender.send("dsl@school.example", message)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        stop.set()
        sink.join(timeout=10)
    (path,) = saved
    assert path.suffix == ".eml" and path.parent == tmp_path / "mail"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    email = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert email["To"] == "dsl@school.example"
    assert "DR-7K2M9QXA" in str(email["Subject"])
