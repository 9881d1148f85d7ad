"""Documents attached to answers: adding one to the draft as it streams in, removing one, and
the social worker's downloads: the safe copy, or the original with a reason. Each is audited;
a refused upload keeps nothing but its refusal on the record, and a removed document's file
goes only once its row is gone for good."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Request
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from portal import db

# What the route modules name, so that they never import the data model themselves.
from portal.attachments import AttachmentUnavailable as AttachmentUnavailable
from portal.attachments import UploadRefused as UploadRefused
from portal.attachments import (
    delete_attachment_file,
    open_attachment,
    receive_attachment,
    scanner_for,
)
from portal.attachments.refusals import message_for
from portal.attachments.safe_copies import open_safe_copy, safe_copy_name
from portal.audit import Actor, AuditAction, record_event, record_lasting_event
from portal.audit.actions import ORIGINAL_DOWNLOAD_REASONS
from portal.auth.login import actor_for
from portal.contributions import services
from portal.contributions.services import ContributionRefused
from portal.crypto.keyring import Keyring
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.models import Attachment as Attachment
from portal.models import AuditOutcome, Contribution, DelegationRequest, User
from portal.models import SafeCopyStatus as SafeCopyStatus
from portal.models import ScanStatus as ScanStatus
from portal.settings import AttachmentSettings

# Set by an upload that lost a race with a submit or a withdrawal: nothing was added.
DRAFT_CLOSED = "This request's answers were sent or closed while the document was on its way"


@dataclass(frozen=True)
class DocumentStore:
    """Where documents are kept and how they are sealed: the unit of work and the store."""

    session: Session
    cipher: RecordCipher
    keyring: Keyring
    settings: AttachmentSettings


def request_store(settings: AttachmentSettings) -> DocumentStore:
    """The current web request's unit of work (its session and cipher) and the store."""
    return DocumentStore(db.session(), db.cipher(), keyring(), settings)


def refusal_message(reason: str, settings: AttachmentSettings) -> str | None:
    """What a refused upload's reason code (carried across the redirect) says to the partner."""
    return message_for(reason, settings.max_bytes, settings.allowed_types)


def attach_document(
    store: DocumentStore,
    body: Request,
    found: DelegationRequest,
    partner: User,
    answer_key: str,
) -> Attachment:
    """Stream the posted document into the draft (started now if there is none). Raises
    ContributionRefused when the request cannot take it, or UploadRefused, having rolled back
    everything but the refusal's audit event, which stays on the record."""
    session = store.session
    actor = actor_for(partner)  # before any rollback expires what the person was loaded with
    draft = services.ensure_draft(session, store.cipher, found, partner)
    session.flush()
    try:
        _fields, attachment = receive_attachment(
            body,
            answer_key=answer_key,
            contribution=draft,
            uploader_id=partner.id,
            session=session,
            cipher=store.cipher,
            keyring=store.keyring,
            settings=store.settings,
            scanner=scanner_for(store.settings),
        )
        # The draft's row version: a submit or withdrawal that won the race makes this fail,
        # so a file never joins a version that was sent (or destroyed) meanwhile.
        draft.updated_at = datetime.now(UTC)
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ContributionRefused(DRAFT_CLOSED) from None
    except UploadRefused as refused:
        session.rollback()
        _record_refusal(found, actor, answer_key, refused)
        raise
    _record_upload(session, found, actor, answer_key, attachment)
    return attachment


def _record_refusal(
    found: DelegationRequest, actor: Actor, answer_key: str, refused: UploadRefused
) -> None:
    record_lasting_event(
        AuditAction.ATTACHMENT_REFUSED,
        actor=actor,
        outcome=AuditOutcome.FAILURE,
        object_type="delegation_request",
        object_id=found.reference,
        details={"reason": refused.reason, "answer_key": answer_key},
    )


def _record_upload(
    session: Session,
    found: DelegationRequest,
    actor: Actor,
    answer_key: str,
    attachment: Attachment,
) -> None:
    record_event(
        session,
        AuditAction.ATTACHMENT_UPLOADED,
        actor=actor,
        object_type="attachment",
        object_id=attachment.id,
        case_reference=found.case.cms_reference,
        details={
            "request": found.reference,
            "answer_key": answer_key,
            "size_bytes": attachment.size_bytes,
            "content_type": attachment.content_type,
            "scan_status": attachment.scan_status.value,
        },
    )


def remove_document(
    session: Session,
    settings: AttachmentSettings,
    found: DelegationRequest,
    partner: User,
    attachment_id: str,
) -> bool:
    """Take a document off the draft; False if the draft has no such document.
    ContributionRefused when the draft changed meanwhile (sent, withdrawn, or a child taken
    out of it): nothing is removed."""
    draft = services.draft_of(session, found)
    attachment = _named(draft.attachments if draft else [], attachment_id)
    if draft is None or attachment is None:
        return False
    with services.one_at_a_time(session, "The answers changed a moment ago"):
        session.delete(attachment)
        draft.updated_at = datetime.now(UTC)  # loses to a submit that got there first
        record_event(
            session,
            AuditAction.ATTACHMENT_REMOVED,
            actor=actor_for(partner),
            object_type="attachment",
            object_id=attachment.id,
            case_reference=found.case.cms_reference,
            details={"request": found.reference, "answer_key": attachment.answer_key},
        )
    # The file goes once the row is gone for good, never before.
    sa.event.listen(
        session,
        "after_commit",
        lambda _session: delete_attachment_file(attachment, settings=settings),
        once=True,
    )
    return True


@dataclass(frozen=True)
class Download:
    name: str
    content_type: str
    size_bytes: int
    chunks: Iterator[bytes]


def sent_document(contribution: Contribution | None, attachment_id: str) -> Attachment | None:
    """A document of a sent version, by the id in the URL."""
    return _named(contribution.attachments if contribution else [], attachment_id)


def download(
    store: DocumentStore,
    found: DelegationRequest,
    contribution: Contribution,
    attachment: Attachment,
    reader: User,
) -> Download:
    """The document's safe copy, decrypted in chunks, with its name ("Report.docx" gives
    "Report.pdf"). The download is on the record whether or not the file can be opened (the
    request boundary commits it before a byte leaves). Raises AttachmentUnavailable, before
    anything is recorded, while there is no safe copy."""
    if (
        attachment.safe_status != SafeCopyStatus.READY
        or attachment.safe_content_type is None
        or attachment.safe_size_bytes is None
    ):
        raise AttachmentUnavailable(f"attachment {attachment.id} has no safe copy")
    _record_download(AuditAction.ATTACHMENT_DOWNLOADED, found, contribution, attachment, reader)
    chunks = open_safe_copy(attachment, keyring=store.keyring, settings=store.settings)
    return Download(
        name=safe_copy_name(_name(store, attachment), attachment.safe_content_type),
        content_type=attachment.safe_content_type,
        size_bytes=attachment.safe_size_bytes,
        chunks=chunks,
    )


def download_original(
    store: DocumentStore,
    found: DelegationRequest,
    contribution: Contribution,
    attachment: Attachment,
    reader: User,
    reason: str,
) -> Download:
    """The document as the partner sent it, for a reviewer who said why (one of
    ORIGINAL_DOWNLOAD_REASONS), on the record with that reason like any download. Raises
    AttachmentUnavailable."""
    if reason not in ORIGINAL_DOWNLOAD_REASONS:
        raise ValueError(f"not a reason for downloading an original: {reason}")
    _record_download(
        AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED,
        found,
        contribution,
        attachment,
        reader,
        reason=reason,
    )
    chunks = open_attachment(attachment, keyring=store.keyring, settings=store.settings)
    return Download(
        name=_name(store, attachment),
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        chunks=chunks,
    )


def _name(store: DocumentStore, attachment: Attachment) -> str:
    """The name the document was sent under (as the sanitiser left it)."""
    return store.cipher.open_text(attachment, "filename_enc") or "document"


def _record_download(
    action: AuditAction,
    found: DelegationRequest,
    contribution: Contribution,
    attachment: Attachment,
    reader: User,
    **more: str,
) -> None:
    record_lasting_event(
        action,
        actor=actor_for(reader),
        object_type="attachment",
        object_id=attachment.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "version": contribution.version, **more},
    )


def _named(attachments: list[Attachment], attachment_id: str) -> Attachment | None:
    return next((a for a in attachments if str(a.id) == attachment_id.lower()), None)
