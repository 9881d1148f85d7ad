"""Sending what is due: claim a few notifications, send each with no transaction open, record
each outcome with its audit event.

A claim is a short transaction that adds one to a notification's attempts and moves its next
attempt a lease ahead, so no other sender takes it while it is being sent. On PostgreSQL the
claim skips rows another sender has locked (`FOR UPDATE SKIP LOCKED`); on SQLite, where the
demo runs one sender, a claim is still a conditional update that only one sender can win.
A sender that dies mid-send leaves its claims to be retried once their lease runs out.

Given a DatabaseOutage (the `portal notifications send` loop), a sender whose database stops
answering mid-batch waits for it and carries on: in particular it records an e-mail it has
already sent once the database answers, rather than leaving it to be sent again.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.config import Settings
from portal.db_outage import DatabaseOutage
from portal.lifecycle import RequestStatus
from portal.models import (
    AuditOutcome,
    DelegationRequest,
    Notification,
    NotificationKind,
    NotificationStatus,
    Organisation,
    OrganisationStage,
    Role,
    User,
    UserStatus,
)
from portal.models.base import utcnow
from portal.notifications.messages import (
    TO_PARTNER,
    Message,
    compose,
    compose_about_organisation,
)
from portal.notifications.queue import REMINDER_KINDS
from portal.notifications.senders import Sender, SendFailed
from portal.onboarding.intake import current_agreement
from portal.requests.access import (
    council_may_see,
    open_to_partner,
    partner_may_see,
    partner_was_addressed,
)
from portal.requests.recipients import OPEN_STATUSES
from portal.uk_time import uk_today

log = logging.getLogger(__name__)

BATCH_SIZE = 10
# Longer than a batch of sends can take (10 × the 60-second timeout ceiling).
LEASE = timedelta(minutes=15)
RETRY_BASE = timedelta(minutes=1)
RETRY_CEILING = timedelta(hours=2)
_TABLE = cast(sa.Table, Notification.__table__)
T = TypeVar("T")


@dataclass
class SendCounts:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Claim:
    id: uuid.UUID
    kind: NotificationKind
    recipient_id: uuid.UUID
    request_id: uuid.UUID | None
    attempt: int
    organisation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class _Subject:
    """What the audit event names: the request (or organisation), never the person's address."""

    reference: str | None = None
    case_reference: str | None = None
    organisation_id: uuid.UUID | None = None


def send_due(
    session_factory: Callable[[], Session],
    sender: Sender,
    settings: Settings,
    now: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    outage: DatabaseOutage | None = None,
) -> SendCounts:
    """Send every pending notification due by `now`, a batch at a time; returns the counts.
    With `outage`, each claimed notification waits out a database outage, then carries on."""
    now = now or utcnow()
    counts = SendCounts()

    def step(action: Callable[[], T]) -> T:
        return action() if outage is None else outage.retrying(action)

    # Every claim moves its notification's next attempt past `now`: the loop ends.
    while claims := _claim(session_factory, now, batch_size):
        for claim in claims:
            # Safe to try again: a database error comes before the send, never after it.
            subject, failure = step(partial(_send_one, session_factory, sender, settings, claim))
            status = step(partial(_record, session_factory, settings, claim, subject, failure, now))
            if status is NotificationStatus.SENT:
                counts.sent += 1
            elif status is NotificationStatus.FAILED:
                counts.failed += 1
            else:
                counts.retrying += 1
    return counts


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff from one minute, at most two hours, with jitter so that the e-mail
    held up by one outage does not all arrive at the relay at the same moment afterwards."""
    delay = min(RETRY_BASE * (1 << min(max(attempt - 1, 0), 16)), RETRY_CEILING)
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not a secret


def _claim(session_factory: Callable[[], Session], now: datetime, batch_size: int) -> list[_Claim]:
    with session_factory() as session, session.begin():
        query = (
            sa.select(_TABLE.c.id, _TABLE.c.kind, _TABLE.c.recipient_id)
            .add_columns(_TABLE.c.request_id, _TABLE.c.attempts, _TABLE.c.organisation_id)
            .where(
                _TABLE.c.status == NotificationStatus.PENDING,
                _TABLE.c.next_attempt_at <= now,
            )
            .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
            .limit(batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        # A long pass's `now` falls behind the clock: the lease runs from whichever is later.
        lease_ends = max(now, utcnow()) + LEASE
        claims = []
        for row in session.execute(query).all():
            won = session.execute(
                sa.update(_TABLE)
                .where(
                    _TABLE.c.id == row.id,
                    _TABLE.c.attempts == row.attempts,
                    _TABLE.c.status == NotificationStatus.PENDING,
                )
                .values(attempts=row.attempts + 1, next_attempt_at=lease_ends)
                .returning(_TABLE.c.id)
            ).first()
            if won is not None:
                kind = NotificationKind(row.kind)
                claims.append(
                    _Claim(
                        row.id,
                        kind,
                        row.recipient_id,
                        row.request_id,
                        row.attempts + 1,
                        row.organisation_id,
                    )
                )
        return claims


def _send_one(
    session_factory: Callable[[], Session], sender: Sender, settings: Settings, claim: _Claim
) -> tuple[_Subject, SendFailed | None]:
    with session_factory() as session:
        subject, prepared = _prepare(session, settings, claim)
    if isinstance(prepared, SendFailed):
        return subject, prepared
    address, message = prepared
    # The session is closed: no transaction stays open while the relay answers.
    try:
        sender.send(address, message)
    except SendFailed as failure:
        return subject, failure
    except Exception as error:  # a sender's bug must not stop everyone else's e-mail
        log.error("notification %s: sender raised %s", claim.id, type(error).__name__)
        return subject, SendFailed("sender_error")
    return subject, None


def _prepare(
    session: Session, settings: Settings, claim: _Claim
) -> tuple[_Subject, tuple[str, Message] | SendFailed]:
    """The recipient's address as it is now and the message, or why it must not be sent."""
    if claim.request_id is None and claim.organisation_id is not None:
        return _prepare_about_organisation(session, settings, claim)
    request = session.get(DelegationRequest, claim.request_id) if claim.request_id else None
    if request is None:
        return _Subject(), SendFailed("request_missing", permanent=True)
    subject = _Subject(request.reference, request.case.cms_reference)
    try:
        address = _address_if_still_wanted(session, claim, request)
        message = compose(claim.kind, request.reference, settings.service)
    except SendFailed as failure:
        return subject, failure
    except ValueError:
        return subject, SendFailed("bad_reference", permanent=True)
    return subject, (address, message)


def _prepare_about_organisation(
    session: Session, settings: Settings, claim: _Claim
) -> tuple[_Subject, tuple[str, Message] | SendFailed]:
    organisation = session.get(Organisation, claim.organisation_id)
    subject = _Subject(organisation_id=claim.organisation_id)
    if organisation is None:
        return subject, SendFailed("organisation_missing", permanent=True)
    recipient = session.get(User, claim.recipient_id)
    review_on = None
    try:
        if recipient is None or recipient.status != UserStatus.ACTIVE:
            raise SendFailed("recipient_inactive", permanent=True)
        if not _entitled_about(recipient, organisation, claim.kind):
            raise SendFailed("recipient_not_entitled", permanent=True)
        if claim.kind is NotificationKind.AGREEMENT_REVIEW_DUE:
            if organisation.stage == OrganisationStage.LEFT:
                raise SendFailed("organisation_left", permanent=True)
            agreement = current_agreement(session, organisation.id)
            if agreement is None:
                raise SendFailed("no_longer_due", permanent=True)
            review_on = agreement.review_on
        if not recipient.email:
            raise SendFailed("recipient_has_no_address", permanent=True)
        message = compose_about_organisation(
            claim.kind, organisation.id, organisation.name, review_on, settings.service
        )
    except SendFailed as failure:
        return subject, failure
    except ValueError:
        return subject, SendFailed("bad_reference", permanent=True)
    return subject, (recipient.email, message)


def _entitled_about(recipient: User, organisation: Organisation, kind: NotificationKind) -> bool:
    """Still one of the people the e-mail is for: the organisation's own partner leads, or the
    council's partner engagement officers (an agreement's review) or IG officers (approvals)."""
    if recipient.organisation_id == organisation.id and recipient.has_role(Role.PARTNER_LEAD):
        return True
    council_role = (
        Role.PARTNER_ENGAGEMENT_OFFICER
        if kind is NotificationKind.AGREEMENT_REVIEW_DUE
        else Role.IG_OFFICER
    )
    return recipient.has_role(council_role)


def _address_if_still_wanted(session: Session, claim: _Claim, request: DelegationRequest) -> str:
    recipient = session.get(User, claim.recipient_id)
    if recipient is None or recipient.status != UserStatus.ACTIVE:
        raise SendFailed("recipient_inactive", permanent=True)
    # Nor to anyone whose organisation could not sign in to follow the link (suspended, not
    # active, or left): the rule signing in uses.
    if not recipient.organisation.in_service:
        raise SendFailed("organisation_not_in_service", permanent=True)
    if claim.kind not in TO_PARTNER:
        if not council_may_see(recipient, request):
            raise SendFailed("recipient_not_entitled", permanent=True)
    else:
        _check_partner_still_wanted(claim.kind, recipient, request)
    if not recipient.email:
        raise SendFailed("recipient_has_no_address", permanent=True)
    return recipient.email


def _check_partner_still_wanted(
    kind: NotificationKind, recipient: User, request: DelegationRequest
) -> None:
    if kind is NotificationKind.REQUEST_WITHDRAWN:
        # The one partner e-mail about a closed request: to someone who could open it while
        # it was open, whose link now says when it was withdrawn and by whom.
        if request.status is not RequestStatus.REVOKED:
            raise SendFailed("no_longer_withdrawn", permanent=True)
        if not partner_was_addressed(recipient, request):
            raise SendFailed("recipient_not_entitled", permanent=True)
        return
    if kind is NotificationKind.REQUEST_PASSED and request.named_recipient_id != recipient.id:
        # Passed on again since (or taken back): the e-mail would point at someone else's.
        raise SendFailed("no_longer_passed_to_them", permanent=True)
    # Partners are never pointed at a request they can no longer open, nor at one they
    # closed themselves by saying they know none of its children.
    if not open_to_partner(request) or request.status is RequestStatus.CHILD_NOT_KNOWN:
        raise SendFailed("request_closed", permanent=True)
    if kind in REMINDER_KINDS and not _reminder_still_true(kind, request):
        raise SendFailed("no_longer_due", permanent=True)
    if not partner_may_see(recipient, request):
        raise SendFailed("recipient_not_entitled", permanent=True)


def _reminder_still_true(kind: NotificationKind, request: DelegationRequest) -> bool:
    """An answered request needs no reminder; nor does one whose due date has moved since."""
    if request.status not in OPEN_STATUSES:
        return False
    overdue = uk_today() > request.due_on
    return overdue if kind is NotificationKind.REQUEST_OVERDUE else not overdue


def _record(
    session_factory: Callable[[], Session],
    settings: Settings,
    claim: _Claim,
    subject: _Subject,
    failure: SendFailed | None,
    now: datetime,
) -> NotificationStatus:
    status, values = _outcome(settings, claim, failure, now)
    with session_factory() as session, session.begin():
        still_ours = session.execute(
            sa.update(_TABLE)
            .where(
                _TABLE.c.id == claim.id,
                _TABLE.c.attempts == claim.attempt,
                _TABLE.c.status == NotificationStatus.PENDING,
            )
            .values(status=status, **values)
            .returning(_TABLE.c.id)
        ).first()
        if still_ours is None:
            # The lease ran out and another sender took over: the attempt is still recorded.
            log.warning("notification %s: lease lost during attempt %d", claim.id, claim.attempt)
        details: dict[str, str | int | bool | None] = {
            "kind": claim.kind.value,
            "notification_id": str(claim.id),
            "recipient_id": str(claim.recipient_id),
            "attempt": claim.attempt,
        }
        if failure is not None:
            details |= {"code": failure.code, "final": status is NotificationStatus.FAILED}
        record_event(
            session,
            AuditAction.NOTIFICATION_SENT if failure is None else AuditAction.NOTIFICATION_FAILED,
            outcome=AuditOutcome.SUCCESS if failure is None else AuditOutcome.FAILURE,
            object_type=_object_type(subject),
            object_id=subject.reference or subject.organisation_id or str(claim.id),
            case_reference=subject.case_reference,
            details=details,
        )
    _log(claim, status, failure)
    return status


def _object_type(subject: _Subject) -> str:
    if subject.reference:
        return "delegation_request"
    return "organisation" if subject.organisation_id else "notification"


def _outcome(
    settings: Settings, claim: _Claim, failure: SendFailed | None, now: datetime
) -> tuple[NotificationStatus, dict[str, object]]:
    if failure is None:
        return NotificationStatus.SENT, {"sent_at": utcnow(), "last_error": None}
    if failure.permanent or claim.attempt >= settings.notifications.max_attempts:
        return NotificationStatus.FAILED, {"last_error": failure.code}
    return NotificationStatus.PENDING, {
        "last_error": failure.code,
        "next_attempt_at": now + retry_delay(claim.attempt),
    }


def _log(claim: _Claim, status: NotificationStatus, failure: SendFailed | None) -> None:
    # Ids and codes only: never the address, the subject or the body.
    if failure is None:
        log.info("notification %s (%s) sent", claim.id, claim.kind.value)
    else:
        log.warning(
            "notification %s (%s) attempt %d failed: %s; now %s",
            claim.id,
            claim.kind.value,
            claim.attempt,
            failure.code,
            status.value,
        )
