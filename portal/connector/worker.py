"""Delivering accepted contributions to the CMS, exactly once.

A worker claims a batch of due outbox rows in one statement: it adds one to each row's
attempts and moves its next attempt a lease ahead, so no other worker takes it meanwhile. On
PostgreSQL the claim skips rows another worker has locked (`FOR UPDATE SKIP LOCKED`), so any
number of workers share the queue; on SQLite the `portal worker` command allows one worker.

A claim is known by the worker's name and the moment it was made. Just before each send the
worker renews its lease, and every later change it makes is conditional on still holding that
claim: a worker whose lease ran out (or whose row an administrator reset) cannot overwrite a
newer attempt's outcome. A success is the exception: the CMS holds the record whatever the
portal thought, so it is recorded from any state that has not already recorded one.

Each claimed row is decrypted in the transaction that renews its lease, sent under its
idempotency key with no transaction open, and its outcome recorded in one transaction with its
audit event. A worker that dies after the CMS committed but before recording leaves the row
to be claimed again when the lease runs out; the CMS answers the repeated key with the first
record, so the child's record never holds two.
On stop, a worker finishes the send in flight and gives back the claims it had not started.

While the database is unreachable (a restart, a failover) the worker logs it once, and each
step waits and tries again with a short backoff (portal/db_outage.py): the claims in hand carry
on once it answers. A send whose answer could not be recorded is not sent again for it: only
the recording is tried again, and a failure's next attempt counts from the CMS's answer.
"""

from __future__ import annotations

import logging
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
from portal.connector.adapter import CmsAdapter, CmsFailure, Delivery, DeliveryReceipt
from portal.connector.case_refresh import case_asked_again
from portal.connector.outcomes import (
    FailedAttempt,
    failed_attempt,
    mark_delivered,
    record_failure_event,
)
from portal.connector.payload import ChildrenWithoutPersonId, delivery_for
from portal.crypto import Keyring
from portal.db_outage import DATABASE_DOWN, DatabaseOutage
from portal.lifecycle import (
    OUTBOX_LIFECYCLE,
    OutboxStatus,
)
from portal.models import OutboxMessage
from portal.models.base import utcnow
from portal.settings import Settings

log = logging.getLogger(__name__)

_TABLE = cast(sa.Table, OutboxMessage.__table__)


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
        self.outage.run_until_stopped(self.deliver_due, self.settings.cms.poll_seconds)

    def deliver_due(self) -> DeliveryCounts:
        """Deliver every row that is due now, a batch at a time, until none is or we stop."""
        counts = DeliveryCounts()
        while not self.stop.is_set() and (claims := self._claim()):
            for index, claim in enumerate(claims):
                if self.stop.is_set():
                    counts.released += self._release(claims[index:])
                    break
                # A claim in hand waits out a database outage, then carries on.
                prepared = self.outage.retrying(partial(self._prepare, claim))
                if prepared is None:
                    log.warning("delivery %s: claim lost before the send", claim.id)
                    counts.released += 1
                    continue
                outcome = self._attempt(claim, prepared)
                setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    # Claiming and giving back

    def _claim(self) -> list[_Claim]:
        cms = self.settings.cms
        with self.sessions() as session, session.begin():
            now = utcnow()
            due = (
                sa.select(_TABLE.c.id)
                .where(_TABLE.c.status == OutboxStatus.PENDING, _TABLE.c.next_attempt_at <= now)
                .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
                .limit(cms.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            # Picked once, in a CTE: as an IN subquery PostgreSQL may run it again for each row
            # it updates, skipping the rows just claimed each time, and so claim the whole queue.
            picked = due.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
            claimed = session.execute(
                sa.update(_TABLE)
                .where(
                    _TABLE.c.id.in_(sa.select(picked.c.id)),
                    _TABLE.c.status == OutboxStatus.PENDING,
                )
                .values(
                    attempts=_TABLE.c.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=cms.lease_seconds),
                    claimed_by=self.name,
                    claimed_at=now,
                )
                .returning(_TABLE.c.id, _TABLE.c.attempts)
            ).all()
            return [_Claim(row.id, row.attempts, now) for row in claimed]

    def _mine(self, claim: _Claim) -> sa.ColumnElement[bool]:
        """The row is pending and still under this claim."""
        return sa.and_(
            _TABLE.c.id == claim.id,
            _TABLE.c.status == OutboxStatus.PENDING,
            _TABLE.c.claimed_by == self.name,
            _TABLE.c.claimed_at == claim.claimed_at,
        )

    def _prepare(self, claim: _Claim) -> Delivery | CmsFailure | None:
        """Just before a send: the lease runs from now and the delivery is built, in one
        transaction; None when the claim is no longer ours. A delivery that cannot be built
        is the failure to record (the renewal rolls back with it: the claim is unchanged)."""
        lease = timedelta(seconds=self.settings.cms.lease_seconds)
        try:
            with self.sessions() as session, session.begin():
                if session.get_bind().dialect.name == "postgresql":
                    # The commit need not wait for the disk: a renewal lost in a database crash
                    # leaves the claim's first lease, and the key keeps the CMS to one record.
                    session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
                renewed = session.execute(
                    sa.update(_TABLE)
                    .where(self._mine(claim))
                    .values(next_attempt_at=utcnow() + lease)
                    .returning(_TABLE.c.contribution_id, _TABLE.c.idempotency_key)
                ).first()
                if renewed is None:
                    return None
                return delivery_for(
                    session,
                    self.keyring,
                    self.settings.attachments,
                    renewed.contribution_id,
                    renewed.idempotency_key,
                )
        except CmsFailure as failure:
            return failure
        except DATABASE_DOWN:
            raise  # an outage, not this row's fault: tried again once it is over
        except Exception as error:  # one bad row must not stop every other delivery
            return _crash(claim, error)

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

    def _attempt(self, claim: _Claim, prepared: Delivery | CmsFailure) -> str:
        """Send once, then record the answer. While the database is down only the recording is
        tried again: sending again would reach the CMS on the outage's short backoff, sooner
        than its Retry-After or the backoff ask."""
        if isinstance(prepared, ChildrenWithoutPersonId):
            again = self._after_asking_for_the_case(claim, prepared)
            if again is None:
                log.warning("delivery %s: claim lost before the send", claim.id)
                return "released"
            prepared = again
        if isinstance(prepared, CmsFailure):
            return self._failed(claim, prepared)
        answer = self._send(claim, prepared)
        if isinstance(answer, CmsFailure):
            return self._failed(claim, answer)
        return self.outage.retrying(partial(self._record_delivery, claim, prepared, answer))

    def _after_asking_for_the_case(
        self, claim: _Claim, failure: ChildrenWithoutPersonId
    ) -> Delivery | CmsFailure | None:
        """A child on the request has no CMS person id: ask the CMS for the case once, bring
        the portal's copy in step (portal/connector/case_refresh.py) and build the delivery
        again. A retry after the CMS has made the person record delivers."""
        try:
            refused = case_asked_again(
                self.adapter, self.sessions, self.keyring, self.outage, failure, claim.id
            )
        except DATABASE_DOWN:
            raise  # told to stop during an outage: the claim is picked up again later
        except Exception as error:  # one bad row must not stop every other delivery
            return _crash(claim, error)
        if refused is not None:
            return refused
        return self.outage.retrying(partial(self._prepare, claim))

    def _send(self, claim: _Claim, delivery: Delivery) -> DeliveryReceipt | CmsFailure:
        try:
            # No transaction is open while the CMS answers.
            return self.adapter.deliver(delivery)
        except CmsFailure as failure:
            return failure
        except Exception as error:  # one bad row must not stop every other delivery
            return _crash(claim, error)

    def _failed(self, claim: _Claim, failure: CmsFailure) -> str:
        failed = failed_attempt(self.settings, claim.attempt, failure, utcnow())
        return self.outage.retrying(partial(self._record_failure, claim, failed))

    def _record_delivery(self, claim: _Claim, delivery: Delivery, receipt: DeliveryReceipt) -> str:
        now = utcnow()
        with self.sessions() as session, session.begin():
            contribution_id, previous = self._mark_row_delivered(session, claim, receipt, now)
            if contribution_id is None:
                log.warning("delivery %s: already recorded by another attempt", claim.id)
                return "superseded"
            if previous != OutboxStatus.PENDING:
                log.warning("delivery %s: delivered after it was %s", claim.id, previous)
            mark_delivered(session, contribution_id, receipt.record_id, now)
            # After the moves, so the audit trail's append lock is held only for the append and
            # the commit.
            record_event(
                session,
                AuditAction.CONTRIBUTION_DELIVERED,
                object_type="contribution",
                object_id=contribution_id,
                case_reference=delivery.case_reference,
                details={
                    "request": delivery.request_reference,
                    "version": delivery.version,
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

    def _mark_row_delivered(
        self, session: Session, claim: _Claim, receipt: DeliveryReceipt, now: datetime
    ) -> tuple[uuid.UUID | None, OutboxStatus | None]:
        """The row delivered with the CMS's record id: (its contribution, the status it had),
        or (None, …) when another attempt has recorded the success already."""
        delivered = sa.update(_TABLE).values(
            status=OutboxStatus.DELIVERED,
            cms_record_id=receipt.record_id,
            delivered_at=now,
            last_error=None,
            claimed_by=None,
            claimed_at=None,
        )
        # Usually the claim still holds, and one statement records the outcome.
        won = session.execute(
            delivered.where(self._mine(claim)).returning(_TABLE.c.contribution_id)
        ).first()
        if won is not None:
            return won.contribution_id, OutboxStatus.PENDING
        previous = session.scalar(
            sa.select(_TABLE.c.status).where(_TABLE.c.id == claim.id).with_for_update()
        )
        # Success stands whoever holds the claim, even over a dead letter or a cancellation
        # made meanwhile: the CMS holds the record for this key whatever the portal thought.
        won = session.execute(
            delivered.where(_TABLE.c.id == claim.id, _TABLE.c.status.in_(_SUCCESS_FROM)).returning(
                _TABLE.c.contribution_id
            )
        ).first()
        return (won.contribution_id if won is not None else None), previous

    def _record_failure(self, claim: _Claim, failed: FailedAttempt) -> str:
        with self.sessions() as session, session.begin():
            still_ours = session.execute(
                sa.update(_TABLE)
                .where(self._mine(claim))
                .values(**failed.row_values())
                .returning(_TABLE.c.contribution_id)
            ).first()
            if still_ours is None:
                # Another attempt (or an administrator) took the row over: its outcome stands.
                log.warning(
                    "delivery %s: attempt %d failed (%s) after the row was taken over",
                    claim.id,
                    claim.attempt,
                    failed.failure.code,
                )
                self.observe("superseded", failed.failure, False)
                return "superseded"
            record_failure_event(
                session, failed, still_ours.contribution_id, attempt=claim.attempt, worker=self.name
            )
        # Codes only: never the payload, the CMS's body or a token.
        log.warning(
            "delivery %s attempt %d failed: %s; %s",
            claim.id,
            claim.attempt,
            failed.failure.code,
            f"retrying in {failed.retry_in.total_seconds():.1f}s"
            if failed.retry_in
            else "dead-lettered",
        )
        self.observe(failed.outcome, failed.failure, failed.final)
        return failed.outcome


def _crash(claim: _Claim, error: Exception) -> CmsFailure:
    """The connector's own fault while delivering one row, logged and retried like an outage
    of the CMS."""
    # The type and the code frames only: an exception's message can carry content.
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("delivery %s: the connector raised %s\n%s", claim.id, type(error).__name__, frames)
    return CmsFailure("connector_error", permanent=False, reason=type(error).__name__)
