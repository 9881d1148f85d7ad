"""Delivering accepted contributions to the CMS, exactly once.

A worker claims a few due outbox rows in a short transaction: it adds one to each row's
attempts and moves its next attempt a lease ahead, so no other worker takes it meanwhile. On
PostgreSQL the claim skips rows another worker has locked (`FOR UPDATE SKIP LOCKED`), so any
number of workers share the queue; on SQLite the `portal worker` command allows one worker.

A claim is known by the worker's name and the moment it was made. Just before each send the
worker renews its lease, and every later change it makes is conditional on still holding that
claim: a worker whose lease ran out (or whose row an administrator reset) cannot overwrite a
newer attempt's outcome. A success is the exception: the CMS holds the record whatever the
portal thought, so it is recorded from any state that has not already recorded one.

Each claimed row is decrypted, sent under its idempotency key with no transaction open, and its
outcome recorded in one transaction with its audit event. A worker that dies after the CMS
committed but before recording leaves the row to be claimed again when the lease runs out; the
CMS answers the repeated key with the first record, so the child's record never holds two.
On stop, a worker finishes the send in flight and gives back the claims it had not started.

While the database is unreachable (a restart, a failover) the worker logs it once, and each
step waits and tries again with a short backoff (portal/db_outage.py): the claims in hand carry
on once it answers. A send whose outcome could not be recorded is sent again under its key, and
the CMS answers with the record it already holds.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.connector.adapter import CmsAdapter, CmsFailure, DeliveryReceipt
from portal.connector.payload import delivery_for
from portal.crypto import Keyring
from portal.db_outage import DATABASE_DOWN, DatabaseOutage
from portal.lifecycle import (
    CONTRIBUTION_LIFECYCLE,
    OUTBOX_LIFECYCLE,
    REQUEST_LIFECYCLE,
    ContributionStatus,
    OutboxStatus,
    RequestStatus,
)
from portal.models import AuditOutcome, Contribution, OutboxMessage
from portal.models.base import utcnow
from portal.settings import Settings

log = logging.getLogger(__name__)

_TABLE = cast(sa.Table, OutboxMessage.__table__)


MAX_RETRY_AFTER = timedelta(days=1)
_SUCCESS_FROM = tuple(
    status for status in OutboxStatus if OUTBOX_LIFECYCLE.allows(status, OutboxStatus.DELIVERED)
)


@dataclass
class DeliveryCounts:
    delivered: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    released: int = 0  # given back unstarted, or the lease was gone before the send
    superseded: int = 0  # failed after another attempt had taken the row over

    def __bool__(self) -> bool:
        return any(vars(self).values())


@dataclass(frozen=True)
class _Claim:
    id: uuid.UUID
    attempt: int
    claimed_at: datetime


class DeliveryWorker:
    def __init__(
        self,
        sessions: Callable[[], Session],
        adapter: CmsAdapter,
        settings: Settings,
        keyring: Keyring,
        *,
        name: str,
        stop: threading.Event | None = None,
        observe: Callable[[str, CmsFailure | None, bool], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.adapter = adapter
        self.settings = settings
        self.keyring = keyring
        self.name = name[:100]
        self.stop = stop or threading.Event()
        # Told (outcome, failure, final) after each attempt: the worker's metrics.
        self.observe = observe or (lambda outcome, failure, final: None)
        self.outage = DatabaseOutage(f"delivery worker {self.name}", self.stop)

    def run(self) -> None:
        """Deliver until stopped, looking for due work every `poll_seconds` when idle."""
        while not self.stop.is_set():
            try:
                worked = self.deliver_due()
            except DATABASE_DOWN as error:
                self.outage.failed(error)
                continue
            self.outage.answered()
            if not worked:
                self.stop.wait(self.settings.cms.poll_seconds)

    def deliver_due(self) -> DeliveryCounts:
        """Deliver every row that is due now, a batch at a time, until none is or we stop."""
        counts = DeliveryCounts()
        while not self.stop.is_set() and (claims := self._claim()):
            for index, claim in enumerate(claims):
                if self.stop.is_set():
                    counts.released += self._release(claims[index:])
                    break
                # A claim in hand waits out a database outage, then carries on.
                if not self.outage.retrying(partial(self._renew, claim)):
                    log.warning("delivery %s: claim lost before the send", claim.id)
                    counts.released += 1
                    continue
                outcome = self.outage.retrying(partial(self._attempt, claim))
                setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    # Claiming and giving back

    def _claim(self) -> list[_Claim]:
        cms = self.settings.cms
        with self.sessions() as session, session.begin():
            now = utcnow()
            query = (
                sa.select(_TABLE.c.id, _TABLE.c.attempts)
                .where(_TABLE.c.status == OutboxStatus.PENDING, _TABLE.c.next_attempt_at <= now)
                .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
                .limit(cms.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claims = []
            for row in session.execute(query).all():
                won = session.execute(
                    sa.update(_TABLE)
                    .where(
                        _TABLE.c.id == row.id,
                        _TABLE.c.attempts == row.attempts,
                        _TABLE.c.status == OutboxStatus.PENDING,
                    )
                    .values(
                        attempts=row.attempts + 1,
                        next_attempt_at=now + timedelta(seconds=cms.lease_seconds),
                        claimed_by=self.name,
                        claimed_at=now,
                    )
                    .returning(_TABLE.c.id)
                ).first()
                if won is not None:
                    claims.append(_Claim(row.id, row.attempts + 1, now))
            return claims

    def _mine(self, claim: _Claim) -> sa.ColumnElement[bool]:
        """The row is pending and still under this claim."""
        return sa.and_(
            _TABLE.c.id == claim.id,
            _TABLE.c.status == OutboxStatus.PENDING,
            _TABLE.c.claimed_by == self.name,
            _TABLE.c.claimed_at == claim.claimed_at,
        )

    def _renew(self, claim: _Claim) -> bool:
        """Just before a send: the lease runs from now, if the claim is still ours."""
        lease = timedelta(seconds=self.settings.cms.lease_seconds)
        with self.sessions() as session, session.begin():
            renewed = session.execute(
                sa.update(_TABLE)
                .where(self._mine(claim))
                .values(next_attempt_at=utcnow() + lease)
                .returning(_TABLE.c.id)
            ).first()
        return renewed is not None

    def _release(self, claims: list[_Claim]) -> int:
        """Give back claims not yet started: due again at once, the attempt not counted."""
        released = 0
        with self.sessions() as session, session.begin():
            for claim in claims:
                result = session.execute(
                    sa.update(_TABLE)
                    .where(self._mine(claim))
                    .values(
                        attempts=claim.attempt - 1,
                        next_attempt_at=utcnow(),
                        claimed_by=None,
                        claimed_at=None,
                    )
                    .returning(_TABLE.c.id)
                ).first()
                released += result is not None
        log.info("delivery worker %s gave back %d unstarted claims", self.name, released)
        return released

    # One attempt

    def _attempt(self, claim: _Claim) -> str:
        try:
            with self.sessions() as session:
                delivery = delivery_for(session, self.keyring, self.settings.attachments, claim.id)
            # The session is closed: no transaction stays open while the CMS answers.
            receipt = self.adapter.deliver(delivery)
        except CmsFailure as failure:
            return self._record_failure(claim, failure)
        except DATABASE_DOWN:
            raise  # an outage, not this row's fault: the attempt is made again once it is over
        except Exception as error:  # one bad row must not stop every other delivery
            # The type and the code frames only: an exception's message can carry content.
            frames = "".join(traceback.format_tb(error.__traceback__))
            log.error(
                "delivery %s: the connector raised %s\n%s", claim.id, type(error).__name__, frames
            )
            crash = CmsFailure("connector_error", permanent=False, reason=type(error).__name__)
            return self._record_failure(claim, crash)
        return self._record_delivery(claim, receipt)

    def _record_delivery(self, claim: _Claim, receipt: DeliveryReceipt) -> str:
        now = utcnow()
        with self.sessions() as session, session.begin():
            previous = session.scalar(
                sa.select(_TABLE.c.status).where(_TABLE.c.id == claim.id).with_for_update()
            )
            # Success stands whoever holds the claim, even over a dead letter or a cancellation
            # made meanwhile: the CMS holds the record for this key whatever the portal thought.
            won = session.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.id == claim.id, _TABLE.c.status.in_(_SUCCESS_FROM))
                .values(
                    status=OutboxStatus.DELIVERED,
                    cms_record_id=receipt.record_id,
                    delivered_at=now,
                    last_error=None,
                    claimed_by=None,
                    claimed_at=None,
                )
                .returning(_TABLE.c.contribution_id)
            ).first()
            if won is None:
                log.warning("delivery %s: already recorded by another attempt", claim.id)
                return "superseded"
            if previous != OutboxStatus.PENDING:
                log.warning("delivery %s: delivered after it was %s", claim.id, previous)
            contribution = session.get_one(Contribution, won.contribution_id)
            CONTRIBUTION_LIFECYCLE.move(contribution, ContributionStatus.DELIVERED)
            contribution.cms_record_id = receipt.record_id
            contribution.delivered_at = now
            request = contribution.request
            if request.status == RequestStatus.ACCEPTED:
                REQUEST_LIFECYCLE.move(request, RequestStatus.DELIVERED)
            record_event(
                session,
                AuditAction.CONTRIBUTION_DELIVERED,
                object_type="contribution",
                object_id=contribution.id,
                case_reference=request.case.cms_reference,
                details={
                    "request": request.reference,
                    "version": contribution.version,
                    "cms_record_id": receipt.record_id,
                    "attempt": claim.attempt,
                    "worker": self.name,
                    "previous_status": str(previous) if previous else None,
                },
            )
        log.info(
            "delivery %s: delivered as %s on attempt %d", claim.id, receipt.record_id, claim.attempt
        )
        self.observe("delivered", None, True)
        return "delivered"

    def _record_failure(self, claim: _Claim, failure: CmsFailure) -> str:
        cms = self.settings.cms
        final = failure.permanent or claim.attempt >= cms.max_attempts
        values: dict[str, object] = {
            "last_error": failure.summary,
            "claimed_by": None,
            "claimed_at": None,
        }
        delay: timedelta | None = None
        if final:
            values["status"] = OutboxStatus.DEAD_LETTERED
        else:
            delay = retry_delay(self.settings, claim.attempt, failure.retry_after)
            values["next_attempt_at"] = utcnow() + delay
        with self.sessions() as session, session.begin():
            still_ours = session.execute(
                sa.update(_TABLE)
                .where(self._mine(claim))
                .values(**values)
                .returning(_TABLE.c.contribution_id)
            ).first()
            if still_ours is None:
                # Another attempt (or an administrator) took the row over: its outcome stands.
                log.warning(
                    "delivery %s: attempt %d failed (%s) after the row was taken over",
                    claim.id,
                    claim.attempt,
                    failure.code,
                )
                self.observe("superseded", failure, False)
                return "superseded"
            contribution = session.get_one(Contribution, still_ours.contribution_id)
            record_event(
                session,
                AuditAction.DELIVERY_DEAD_LETTERED if final else AuditAction.DELIVERY_FAILED,
                outcome=AuditOutcome.FAILURE,
                object_type="contribution",
                object_id=contribution.id,
                case_reference=contribution.request.case.cms_reference,
                details={
                    "request": contribution.request.reference,
                    "version": contribution.version,
                    "attempt": claim.attempt,
                    "code": failure.code,
                    "retry_in_seconds": round(delay.total_seconds()) if delay else None,
                    "worker": self.name,
                },
            )
        # Codes only: never the payload, the CMS's body or a token.
        log.warning(
            "delivery %s attempt %d failed: %s; %s",
            claim.id,
            claim.attempt,
            failure.code,
            "dead-lettered"
            if final
            else f"retrying in {delay.total_seconds():.1f}s"
            if delay
            else "",
        )
        self.observe("dead_lettered" if final else "retrying", failure, final)
        return "dead_lettered" if final else "retrying"


def retry_delay(settings: Settings, attempt: int, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with jitter (so a queue held up by an outage does not all arrive at
    once afterwards), never sooner than the CMS's Retry-After asked."""
    cms = settings.cms
    backoff = min(
        cms.retry_base_seconds * (2 ** min(max(attempt - 1, 0), 30)), cms.retry_ceiling_seconds
    )
    delay = timedelta(seconds=backoff * random.uniform(0.5, 1.0))  # noqa: S311 - spreading, not a secret
    if retry_after is not None and math.isfinite(retry_after):
        asked = min(max(retry_after, 0.0), MAX_RETRY_AFTER.total_seconds())
        delay = max(delay, timedelta(seconds=asked))
    return delay
