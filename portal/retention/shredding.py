"""The retention job: crypto-shred the content of each request that is due, one request per
transaction, with its audit event; then delete its documents' encrypted files.

Shredding destroys data keys (wrapped_key set to NULL): every answer, document name and review
reason sealed under them is unreadable for good, in the database and in its backups once
those age out. The request itself, its timeline, receipts' digests and the audit trail stay.
Safe to run from several processes at once on PostgreSQL (each request is locked, or skipped
if another process holds it) and to run again (a shredded request is never due again).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from portal.attachments.safe_copies import delete_safe_copy
from portal.attachments.store import stored_path
from portal.audit import AuditAction, record_event
from portal.crypto.shredding import shred_data_keys
from portal.lifecycle import RequestStatus
from portal.models import Attachment, Contribution, DelegationRequest, Feedback, Review
from portal.models.base import Sealed
from portal.models.keys import DataKey
from portal.retention.policy import due_for_shredding, retention_days
from portal.settings import AttachmentSettings, RetentionSettings


@dataclass(frozen=True)
class Shredding:
    """What was (or, in a dry run, would be) shredded for one request: counts only."""

    reference: str
    outcome: RequestStatus
    contributions: int
    attachments: int
    review_reasons: int
    data_keys: int  # keys destroyed now (some may have been shredded before, on withdrawal)
    files_deleted: int = 0
    feedback_comments: int = 0  # the partners' comments on the service, given after sending


@dataclass
class RetentionReport:
    due: int = 0
    shredded: int = 0
    skipped: int = 0  # held, shredded or locked by another process since the job looked
    files_swept: int = 0  # left behind by an earlier run (or a withdrawal) that stopped early


Progress = Callable[[Shredding, RetentionReport], None]


def run_retention(
    sessions: sessionmaker[Session],
    retention: RetentionSettings,
    attachments: AttachmentSettings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RetentionReport:
    """Shred every request due at `now` (or, with `dry_run`, only count what would be)."""
    now = now or datetime.now(UTC)
    due = due_for_shredding(retention, now)
    report = RetentionReport()
    with sessions() as session:
        report.due = session.scalar(sa.select(sa.func.count(DelegationRequest.id)).where(due)) or 0
    after: uuid.UUID | None = None
    while True:
        with sessions() as session:
            query = sa.select(DelegationRequest.id).where(due)
            if after is not None:
                query = query.where(DelegationRequest.id > after)
            batch = list(
                session.scalars(query.order_by(DelegationRequest.id).limit(retention.batch_size))
            )
        if not batch:
            if not dry_run:
                report.files_swept = sweep_shredded_files(sessions, attachments)
            return report
        after = batch[-1]
        for request_id in batch:
            done = _one(sessions, request_id, retention, attachments, now, dry_run)
            if done is None:
                report.skipped += 1
                continue
            report.shredded += 1
            if progress is not None:
                progress(done, report)


def sweep_shredded_files(
    sessions: sessionmaker[Session], attachments: AttachmentSettings, batch_size: int = 1000
) -> int:
    """Delete the files of documents whose data key is destroyed but whose file is still
    there: a run that stopped between its commit and deleting them, or a withdrawal. They can
    never be opened again; this only frees the space and leaves the store as the data says."""
    swept = 0
    after: uuid.UUID | None = None
    while True:
        query = (
            sa.select(Attachment.id)
            .join(DataKey, DataKey.id == Attachment.data_key_id)
            .where(DataKey.wrapped_key.is_(None))
        )
        if after is not None:
            query = query.where(Attachment.id > after)
        with sessions() as session:
            batch = list(session.scalars(query.order_by(Attachment.id).limit(batch_size)))
        if not batch:
            return swept
        after = batch[-1]
        for attachment_id in batch:
            delete_safe_copy(attachments, attachment_id)
            try:
                stored_path(attachments, attachment_id).unlink()
            except FileNotFoundError:
                continue
            swept += 1


def _one(
    sessions: sessionmaker[Session],
    request_id: uuid.UUID,
    retention: RetentionSettings,
    attachments: AttachmentSettings,
    now: datetime,
    dry_run: bool,
) -> Shredding | None:
    if dry_run:
        with sessions() as session:
            request = session.get(DelegationRequest, request_id)
            return None if request is None else _shred(session, request, retention, now, False)[0]
    with sessions.begin() as session:
        request = _lock_if_due(session, request_id, retention, now)
        if request is None:
            return None
        done, attachment_ids = _shred(session, request, retention, now, True)
    # Only after the commit: if it had failed, the files would still be needed.
    deleted = 0
    for attachment_id in attachment_ids:
        delete_safe_copy(attachments, attachment_id)  # shredded with the same key
        try:
            stored_path(attachments, attachment_id).unlink()
        except FileNotFoundError:
            continue  # never stored, or deleted by an earlier run that stopped after its commit
        deleted += 1
    return replace(done, files_deleted=deleted)


def _lock_if_due(
    session: Session, request_id: uuid.UUID, retention: RetentionSettings, now: datetime
) -> DelegationRequest | None:
    # Lock first, skipping a request another process is shredding or holding right now (a
    # legal hold is placed under the same lock); then look again with a fresh snapshot, so a
    # hold or a shredding committed a moment ago is seen.
    locked = session.scalar(
        sa.select(DelegationRequest.id)
        .where(DelegationRequest.id == request_id)
        .with_for_update(skip_locked=True)
    )
    if locked is None:
        return None
    return session.scalar(
        sa.select(DelegationRequest)
        .where(DelegationRequest.id == request_id, due_for_shredding(retention, now))
        .execution_options(populate_existing=True)
    )


def _shred(
    session: Session,
    request: DelegationRequest,
    retention: RetentionSettings,
    now: datetime,
    for_real: bool,
) -> tuple[Shredding, list[uuid.UUID]]:
    contributions = list(
        session.scalars(sa.select(Contribution).where(Contribution.request_id == request.id))
    )
    ids = [contribution.id for contribution in contributions]
    documents = list(
        session.scalars(sa.select(Attachment).where(Attachment.contribution_id.in_(ids)))
    )
    reviews = list(session.scalars(sa.select(Review).where(Review.contribution_id.in_(ids))))
    # Free text typed after sending: kept no longer than the answers it was given about.
    comments = list(
        session.scalars(
            sa.select(Feedback).where(
                Feedback.contribution_id.in_(ids), Feedback.data_key_id.is_not(None)
            )
        )
    )
    sealed: list[Sealed] = [*contributions, *documents, *reviews, *comments]
    key_ids = {record.data_key_id for record in sealed if record.data_key_id is not None}
    if for_real:
        destroyed = shred_data_keys(session, key_ids, now)
        request.content_shredded_at = now
    else:
        destroyed = _count_live_keys(session, key_ids)
    done = Shredding(
        reference=request.reference,
        outcome=request.status,
        contributions=sum(1 for c in contributions if c.data_key_id is not None),
        attachments=len(documents),
        review_reasons=sum(1 for r in reviews if r.data_key_id is not None),
        data_keys=destroyed,
        feedback_comments=len(comments),
    )
    if for_real:
        record_event(
            session,
            AuditAction.RETENTION_SHREDDED,
            object_type="delegation_request",
            object_id=request.reference,
            case_reference=request.case.cms_reference,
            details={
                "outcome": request.status.value,
                "retention_days": retention_days(retention, request.status),
                "contributions": done.contributions,
                "attachments": done.attachments,
                "review_reasons": done.review_reasons,
                "feedback_comments": done.feedback_comments,
                "data_keys_shredded": destroyed,
            },
        )
    return done, [document.id for document in documents]


def _count_live_keys(session: Session, key_ids: set[uuid.UUID]) -> int:
    if not key_ids:
        return 0
    query = sa.select(sa.func.count()).where(
        DataKey.id.in_(key_ids), DataKey.wrapped_key.is_not(None)
    )
    return session.scalar(query) or 0
