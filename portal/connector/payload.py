"""What is sent for one outbox row: the accepted contribution, decrypted only now, at send time.

The plaintext lives in memory for the length of one send and is never written anywhere.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.attachments import AttachmentUnavailable, open_attachment
from portal.connector.adapter import CmsFailure, Delivery, Document
from portal.crypto import CryptoError, DecryptionError, Keyring
from portal.crypto.errors import UnknownKeyVersion
from portal.crypto.records import RecordCipher
from portal.models import Attachment, Contribution, DelegationRequest, ScanStatus
from portal.settings import AttachmentSettings


def delivery_for(
    session: Session,
    keyring: Keyring,
    attachments: AttachmentSettings,
    contribution_id: uuid.UUID,
    idempotency_key: str,
) -> Delivery:
    """The delivery of this contribution under its outbox row's key, or CmsFailure when it
    cannot be built: permanent, except while this process's keyring lacks the key version the
    content is under."""
    contribution = _submitted_contribution(session, contribution_id)
    answers, documents = _opened_content(
        RecordCipher(keyring, session), keyring, attachments, contribution
    )
    return delivery_from(contribution, idempotency_key, answers, documents)


def _submitted_contribution(session: Session, contribution_id: uuid.UUID) -> Contribution:
    # Everything the body needs in one query (the contribution with its request, case, partner
    # and documents), not one per relationship.
    contribution = (
        session.execute(
            sa.select(Contribution)
            .where(Contribution.id == contribution_id)
            .options(
                joinedload(Contribution.request).options(
                    joinedload(DelegationRequest.case),
                    joinedload(DelegationRequest.partner_organisation),
                ),
                joinedload(Contribution.attachments),
            )
        )
        .unique()
        .scalar_one_or_none()
    )
    if contribution is None or contribution.submitted_at is None:
        raise CmsFailure("contribution_missing", permanent=True)
    return contribution


def _opened_content(
    cipher: RecordCipher,
    keyring: Keyring,
    attachments: AttachmentSettings,
    contribution: Contribution,
) -> tuple[dict[str, Any], tuple[Document, ...]]:
    """The answers and the documents (all but those the scanner refused), decrypted."""
    try:
        answers = cipher.open_json(contribution, "answers_enc") or {}
        # In a fixed order: every attempt must send the same body under the same key.
        documents = tuple(
            _document(cipher, keyring, attachments, attachment)
            for attachment in sorted(
                contribution.attachments, key=lambda found: (found.created_at, str(found.id))
            )
            if attachment.scan_status != ScanStatus.REFUSED
        )
    except UnknownKeyVersion:
        # Caught mid-rotation: this process has not loaded the keyring file holding the new
        # version yet (it reloads by itself once the file is copied). Retry, like an outage.
        raise CmsFailure(
            "key_version_unknown", permanent=False, reason=UnknownKeyVersion.__name__
        ) from None
    except (AttachmentUnavailable, CryptoError) as error:
        # A bad tag, a digest mismatch, a shredded key or a missing file never gets better.
        raise CmsFailure(
            "content_unavailable", permanent=True, reason=type(error).__name__
        ) from None
    return answers, documents


def delivery_from(
    contribution: Contribution,
    idempotency_key: str,
    answers: dict[str, Any],
    documents: tuple[Document, ...],
) -> Delivery:
    """The body sent for a submitted contribution, from its request, case and partner and the
    content already opened."""
    request = contribution.request
    assert contribution.submitted_at is not None  # noqa: S101 - _submitted_contribution's check
    return Delivery(
        idempotency_key=idempotency_key,
        case_reference=request.case.cms_reference,
        request_reference=request.reference,
        version=contribution.version,
        partner_organisation=request.partner_organisation.name,
        submitted_at=contribution.submitted_at.isoformat(timespec="seconds"),
        form_template=request.form_template,
        form_template_version=request.form_template_version,
        answers=answers,
        documents=documents,
    )


def _document(
    cipher: RecordCipher, keyring: Keyring, settings: AttachmentSettings, attachment: Attachment
) -> Document:
    content = b"".join(open_attachment(attachment, keyring=keyring, settings=settings))
    digest = hashlib.sha256(content).hexdigest()
    if attachment.sha256 is not None and attachment.sha256.hex() != digest:
        raise DecryptionError(f"attachment {attachment.id} does not match its digest")
    return Document(
        filename=cipher.open_text(attachment, "filename_enc") or f"document-{attachment.id}",
        content_type=attachment.content_type,
        sha256=digest,
        content=content,
    )
