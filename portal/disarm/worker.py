"""The disarm worker: makes each stored document's safe copy, one at a time, away from the web.

A worker claims one document whose safe copy is pending (those of submitted contributions
before drafts', then the oldest first) with a lease (`safe_claimed_by`,
`safe_claimed_until`, and one more `safe_attempts`) in a single conditional UPDATE: on
PostgreSQL it skips rows another worker holds (`FOR UPDATE SKIP LOCKED`), and on SQLite the
database's one writer makes the claim atomic all the same. With no transaction open it
decrypts the original and calls `make_safe` (which blocks while its sandboxed child runs: only
this worker ever calls it). Then, in one transaction with the row locked and on condition that
the claim is still its own, it encrypts the result beside the original (`safe_copies`) and
records the outcome with its audit event.

Outcomes: "ready"; "failed" with the engine's code when the document itself is the cause (a
hostile or broken file never gets better); "failed" with "shredded" when the attachment's data
key is gone. A worker that is killed (or whose machine stops), or that is stopped while its
converter runs (when the stop's signal reaches the converter too, which then fails), leaves
its lease to run out; the document is then claimed again, up to `[disarm] max_attempts`,
after which it is failed as "interrupted". A converter or sandbox missing from this machine,
a safe copy that cannot be written (a full disk), or the engine failing in an unexpected way,
is not the document's fault: it stays claimed until its lease runs out and is tried again, and
fails once `max_attempts` is spent (with its code, or "interrupted"). Logs carry ids and
codes only, never a name or content.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.attachments import AttachmentUnavailable, open_attachment
from portal.attachments.safe_copies import delete_safe_copy, write_safe_copy
from portal.audit import AuditAction, record_event
from portal.crypto import CryptoError, Keyring
from portal.db_outage import DatabaseOutage
from portal.disarm import CouldNotMakeSafe, SafeCopy, make_safe
from portal.lifecycle import ContributionStatus
from portal.models import (
    Attachment,
    AuditOutcome,
    Contribution,
    DataKey,
    SafeCopyStatus,
    ScanStatus,
)
from portal.models.base import utcnow
from portal.settings import Settings

log = logging.getLogger(__name__)

_TABLE = cast(sa.Table, Attachment.__table__)
# Documents of submitted contributions first (a reviewer or a delivery waits for them), then
# drafts': a partner's pile of draft uploads never holds up the council's reviews.
_DRAFT_LAST = (
    sa.select(Contribution.status == ContributionStatus.DRAFT)
    .where(Contribution.id == _TABLE.c.contribution_id)
    .scalar_subquery()
)
# The engine's codes for a machine that cannot convert at all: tried again later.
PASSING_CODES = frozenset({"converter_missing", "sandbox_unavailable"})
SHREDDED = "shredded"
INTERRUPTED = "interrupted"
ORIGINAL_UNAVAILABLE = "original_unavailable"

MakeSafe = Callable[..., SafeCopy]


@dataclass
class DisarmCounts:
    ready: int = 0
    failed: int = 0
    retrying: int = 0
    lost: int = 0  # the claim was taken over before the outcome could be recorded

    def __bool__(self) -> bool:
        return any(vars(self).values())


@dataclass(frozen=True)
class _Claim:
    id: uuid.UUID
    attempt: int
    until: datetime


class DisarmWorker:
    def __init__(
        self,
        sessions: Callable[[], Session],
        settings: Settings,
        keyring: Keyring,
        *,
        name: str,
        stop: threading.Event | None = None,
        converter: MakeSafe = make_safe,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.keyring = keyring
        self.name = name[:200]
        self.stop = stop or threading.Event()
        self.converter = converter
        self.outage = DatabaseOutage(f"disarm worker {self.name}", self.stop)

    def run(self) -> None:
        """Make safe copies until stopped, looking for work every `poll_seconds` when idle."""
        self.outage.run_until_stopped(self.make_due, self.settings.disarm.poll_seconds)

    def make_due(self) -> DisarmCounts:
        """Make the safe copy of every pending document, one at a time, until none is left
        or we are stopped (the document in hand is finished first)."""
        counts = DisarmCounts()
        while not self.stop.is_set() and (claim := self._claim()) is not None:
            outcome = self._make_one(claim)
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts

    def _claim(self) -> _Claim | None:
        lease = timedelta(seconds=self.settings.disarm.lease_seconds)
        with self.sessions() as session, session.begin():
            now = utcnow()
            due = (
                sa.select(_TABLE.c.id)
                .where(self._claimable(now))
                .order_by(_DRAFT_LAST, _TABLE.c.created_at, _TABLE.c.id)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            picked = due.cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
            row = session.execute(
                sa.update(_TABLE)
                .where(_TABLE.c.id.in_(sa.select(picked.c.id)), self._claimable(now))
                .values(
                    safe_attempts=_TABLE.c.safe_attempts + 1,
                    safe_claimed_by=self.name,
                    safe_claimed_until=now + lease,
                )
                .returning(_TABLE.c.id, _TABLE.c.safe_attempts)
            ).first()
        return None if row is None else _Claim(row.id, row.safe_attempts, now + lease)

    @staticmethod
    def _claimable(now: datetime) -> sa.ColumnElement[bool]:
        return sa.and_(
            _TABLE.c.safe_status == SafeCopyStatus.PENDING,
            _TABLE.c.scan_status != ScanStatus.REFUSED,
            sa.or_(_TABLE.c.safe_claimed_until.is_(None), _TABLE.c.safe_claimed_until < now),
        )

    def _make_one(self, claim: _Claim) -> str:
        if claim.attempt > self.settings.disarm.max_attempts:
            return self._record(claim, INTERRUPTED, None)
        try:
            original = self.outage.retrying(lambda: self._original(claim))
        except _Final as final:
            return self._record(claim, final.code, None)
        try:
            safe = self.converter(original.content, original.media_type, self.settings.disarm)
        except CouldNotMakeSafe as refused:
            if self.stop.is_set():
                return self._stopped(claim, refused.code)
            if refused.code in PASSING_CODES:
                return self._passing(claim, refused.code)
            return self._record(claim, refused.code, None)
        except Exception as error:  # a fault of the engine's: one document must not stop all
            if self.stop.is_set():
                return self._stopped(claim, type(error).__name__)
            log.error("disarm %s: the engine failed (%s)", claim.id, type(error).__name__)
            return self._passing(claim, "converter_failed")
        return self._record(claim, None, safe)

    def _stopped(self, claim: _Claim, code: str) -> str:
        """A stop that signals the whole cgroup (systemd's KillMode=control-group, an
        operator's `kill`) reaches the converter too, in its own session: its failure is the
        stop's, not the document's. The claim is left to run out and the document is tried
        again, its attempt counted."""
        log.warning("disarm %s: stopped while converting (%s)", claim.id, code)
        return "retrying"

    def _passing(self, claim: _Claim, code: str) -> str:
        """Not the document's fault: left claimed, so it is tried again once the lease runs
        out, unless that was the last attempt allowed."""
        log.error("disarm %s: %s (attempt %d)", claim.id, code, claim.attempt)
        if claim.attempt >= self.settings.disarm.max_attempts:
            return self._record(claim, code, None)
        return "retrying"

    def _original(self, claim: _Claim) -> _Original:
        """The original's plaintext, read in a short transaction; _Final when it cannot be."""
        with self.sessions() as session:
            attachment = session.get(Attachment, claim.id)
            if attachment is None or _shredded(attachment):
                raise _Final(SHREDDED)
            try:
                chunks = open_attachment(
                    attachment, keyring=self.keyring, settings=self.settings.attachments
                )
                return _Original(b"".join(chunks), attachment.content_type)
            except (AttachmentUnavailable, CryptoError) as error:
                log.error(
                    "disarm %s: the original is unreadable (%s)", claim.id, type(error).__name__
                )
                raise _Final(ORIGINAL_UNAVAILABLE) from None

    def _record(self, claim: _Claim, failure: str | None, safe: SafeCopy | None) -> str:
        """The outcome and its audit event, in one transaction, if the claim is still ours."""
        try:
            outcome = self.outage.retrying(lambda: self._recorded(claim, failure, safe))
        except _NotWritten as error:  # disk full, say: the machine's fault, not the document's
            log.error("disarm %s: the safe copy could not be stored (%s)", claim.id, error)
            return "retrying"
        if outcome == "lost":
            log.warning("disarm %s: claim taken over before the outcome was recorded", claim.id)
        else:
            log.info("disarm %s: %s %s", claim.id, outcome, failure or "")
        return outcome

    def _recorded(self, claim: _Claim, failure: str | None, safe: SafeCopy | None) -> str:
        """With the row locked (so no other worker can claim it meanwhile), the safe copy is
        written, then the row and the audit event; "lost" when the claim is no longer ours."""
        with self.sessions() as session, session.begin():
            mine = sa.and_(
                _TABLE.c.id == claim.id,
                _TABLE.c.safe_status == SafeCopyStatus.PENDING,
                _TABLE.c.safe_claimed_by == self.name,
                _TABLE.c.safe_claimed_until == claim.until,
            )
            if (
                session.execute(sa.select(_TABLE.c.id).where(mine).with_for_update()).first()
                is None
            ):
                return "lost"
            attachment = session.get_one(Attachment, claim.id)
            if safe is not None and not (
                _key_kept(session, attachment) and self._written(attachment, safe)
            ):
                failure, safe = SHREDDED, None
            values = _outcome_values(failure, safe)
            session.execute(sa.update(_TABLE).where(mine).values(**values))
            _audit(session, attachment, claim, failure, safe)
        if failure is not None:
            delete_safe_copy(self.settings.attachments, claim.id)
        return "failed" if failure else "ready"

    def _written(self, attachment: Attachment, safe: SafeCopy) -> bool:
        """The safe copy stored; False when the attachment's data key was shredded meanwhile;
        _NotWritten (the transaction then rolls back, the claim left to its lease) when the
        file could not be written."""
        try:
            write_safe_copy(
                attachment, safe.content, keyring=self.keyring, settings=self.settings.attachments
            )
        except CryptoError:
            return False
        except OSError as error:
            raise _NotWritten(type(error).__name__) from None
        return True


@dataclass(frozen=True)
class _Original:
    content: bytes
    media_type: str


class _Final(Exception):
    """The document cannot be made safe, and never will be: its code is the outcome."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _NotWritten(Exception):
    """The safe copy's file could not be written (its error's type only, never a path)."""


def _key_kept(session: Session, attachment: Attachment) -> bool:
    """Whether the attachment's data key is still there, its row locked (on PostgreSQL) until
    the outcome is recorded, so that no document is recorded "ready" once it is shredded."""
    wrapped = session.execute(
        sa.select(DataKey.wrapped_key).where(DataKey.id == attachment.data_key_id).with_for_update()
    ).scalar_one_or_none()
    return wrapped is not None


def _shredded(attachment: Attachment) -> bool:
    return attachment.data_key is None or attachment.data_key.wrapped_key is None


def _outcome_values(failure: str | None, safe: SafeCopy | None) -> dict[str, object]:
    cleared = {"safe_claimed_by": None, "safe_claimed_until": None}
    if failure is not None or safe is None:
        return {**cleared, "safe_status": SafeCopyStatus.FAILED, "safe_failure": failure}
    return {**cleared, **ready_values(safe)}


def ready_values(safe: SafeCopy) -> dict[str, object]:
    """An attachment's columns once its safe copy is stored (by the worker, or by a fixture
    that stores one the way the worker does)."""
    return {
        "safe_status": SafeCopyStatus.READY,
        "safe_failure": None,
        "safe_content_type": safe.content_type,
        "safe_size_bytes": len(safe.content),
        "safe_sha256": hashlib.sha256(safe.content).digest(),
        "safe_pages": safe.pages,
        "safe_made_at": utcnow(),
    }


def _audit(
    session: Session,
    attachment: Attachment,
    claim: _Claim,
    failure: str | None,
    safe: SafeCopy | None,
) -> None:
    """Codes, sizes and pages only: never a name or content."""
    request = attachment.contribution.request
    details: dict[str, str | int | bool | None] = {
        "request": request.reference,
        "attempt": claim.attempt,
        "size_bytes": attachment.size_bytes,
        "content_type": attachment.content_type,
    }
    if safe is None:
        details["reason"] = failure
    else:
        details.update(
            safe_content_type=safe.content_type,
            safe_size_bytes=len(safe.content),
            pages=safe.pages,
        )
    record_event(
        session,
        AuditAction.ATTACHMENT_MADE_SAFE if safe else AuditAction.ATTACHMENT_NOT_MADE_SAFE,
        outcome=AuditOutcome.SUCCESS if safe else AuditOutcome.FAILURE,
        object_type="attachment",
        object_id=attachment.id,
        case_reference=request.case.cms_reference,
        details=details,
    )
