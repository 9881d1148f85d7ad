"""Accepted contributions waiting in the outbox, written straight into a database the
product's way: the request's purpose and the answers sealed under their own data keys,
documents in the encrypted file store. What the connector's tests and the benchmarks' drain
figure deliver; hundreds of them through the pages would only be slow, and the pages' own
path to the outbox is tested with the review tests."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from portal.attachments import NoScanner, store_upload
from portal.attachments.safe_copies import write_safe_copy
from portal.crypto import Keyring
from portal.crypto.records import RecordCipher
from portal.disarm import SafeCopy
from portal.disarm.worker import ready_values
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import Attachment, Contribution, DelegationRequest, OutboxMessage
from portal.settings import AttachmentSettings

ANSWERS = {
    "attendance": {"percentage": "82", "pattern": "Mondays missed since September"},
    "wellbeing": {"concerns": "Often tired; says there is no breakfast at home."},
    "contact": {"last_seen": "2026-11-18", "seen_by": "Class teacher"},
}


@dataclass(frozen=True)
class Parties:
    """Who asked and who answered, on which case (ids of committed rows)."""

    case_id: uuid.UUID
    school_id: uuid.UUID
    worker_id: uuid.UUID
    lead_id: uuid.UUID


def accepted_contribution(
    session: Session,
    cipher: RecordCipher,
    parties: Parties,
    now: datetime,
    *,
    documents: int = 0,
    keyring: Keyring | None = None,
    files: AttachmentSettings | None = None,
) -> Contribution:
    """An accepted first version of a new request, added to the session (with `documents`
    small text documents, for which `keyring` and `files` are needed, each with its safe
    copy: UTF-8 text with no control characters, which the disarm engine gives back as it is,
    stored as the disarm worker stores it, without a converter process for each)."""
    request = DelegationRequest(
        reference=f"DR-{uuid.uuid4().hex[:8].upper()}",
        case_id=parties.case_id,
        partner_organisation_id=parties.school_id,
        requested_by_id=parties.worker_id,
        form_template="school-contribution",
        form_template_version=1,
        lawful_basis="children-act-1989-s47",
        status=RequestStatus.ACCEPTED,
        due_on=date.today() + timedelta(days=10),
        expires_at=now + timedelta(days=30),
        issued_at=now,
    )
    cipher.seal_text(request, "purpose_enc", "Child protection conference on 12 December.")
    contribution = Contribution(
        request=request,
        version=1,
        status=ContributionStatus.ACCEPTED,
        created_by_id=parties.lead_id,
        submitted_by_id=parties.lead_id,
        submitted_at=now,
    )
    contribution.ensure_id()
    cipher.seal_json(contribution, "answers_enc", ANSWERS)
    session.add_all([request, contribution])
    if not documents:
        return contribution
    if keyring is None or files is None:
        raise ValueError("documents need the keyring and the file store")
    session.flush()
    for number in range(documents):
        _attach_text_document(session, cipher, contribution, number, keyring, files)
    return contribution


def _attach_text_document(
    session: Session,
    cipher: RecordCipher,
    contribution: Contribution,
    number: int,
    keyring: Keyring,
    files: AttachmentSettings,
) -> None:
    """A small text document on the contribution, scanned as not scanned, with its safe copy."""
    text = f"Attendance report {number} for {contribution.request.reference}\n".encode() * 40
    attachment = store_upload(
        io.BytesIO(text),
        filename=f"attendance-{number}.txt",
        answer_key="attendance.report",
        contribution=contribution,
        uploader_id=contribution.submitted_by_id or contribution.created_by_id,
        session=session,
        cipher=cipher,
        keyring=keyring,
        settings=files,
        scanner=NoScanner(),
    )
    store_safe_copy(attachment, SafeCopy(text, "text/plain", None), keyring, files)


def store_safe_copy(
    attachment: Attachment, safe: SafeCopy, keyring: Keyring, files: AttachmentSettings
) -> None:
    """Store `safe` as the attachment's safe copy and mark it ready, as the disarm worker does
    (the caller commits)."""
    write_safe_copy(attachment, safe.content, keyring=keyring, settings=files)
    for column, value in ready_values(safe).items():
        setattr(attachment, column, value)


def outbox_message(contribution: Contribution) -> OutboxMessage:
    """The contribution's outbox row, under the idempotency key the acceptance gives it."""
    return OutboxMessage(
        contribution_id=contribution.id,
        idempotency_key=f"contribution-{contribution.id}-v{contribution.version}",
    )
