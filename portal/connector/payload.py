"""What is sent for one outbox row: the accepted contribution, decrypted only now, at send time.

The plaintext lives in memory for the length of one send and is never written anywhere.

Each child the request names is sent by the CMS's person id, with the partner's confirmation
of that child and the answers and documents about them; the portal's own ids for children
never leave it. A child with no CMS person id stops the delivery (`ChildrenWithoutPersonId`):
the CMS could only file those answers on a guessed person. So do two children with one person
id (`ChildrenShareAPersonId`): one child's answers would be filed on the other's record.

Documents go as their safe copies (`[attachments] deliver_to_cms = "safe_copy"`, the default),
under the safe copy's name, type, size and digest: a document still being made safe makes the
delivery wait and try again (`SafeCopyPending`), and one that could not be made safe stops it
(`SafeCopyFailed`). With "original" they go as the partner sent them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.attachments import AttachmentUnavailable, open_attachment
from portal.attachments.safe_copies import open_safe_copy, safe_copy_name
from portal.connector.adapter import CmsFailure, DeliveredChild, Delivery, Document
from portal.crypto import CryptoError, DecryptionError, Keyring
from portal.crypto.errors import UnknownKeyVersion
from portal.crypto.records import RecordCipher
from portal.forms_catalogue.answers import CHILD_SEPARATOR
from portal.models import (
    Attachment,
    Child,
    ChildConfirmation,
    Contribution,
    DelegationRequest,
    SafeCopyStatus,
    ScanStatus,
)
from portal.settings import AttachmentSettings

# A document as opened for sending, with the answer it was given for ("<question>" or
# "<question>:<child id>").
FiledDocument = tuple[str, Document]


class ChildrenWithoutPersonId(CmsFailure):
    """A child the request names has no CMS person id, or the CMS no longer lists the child
    under the one the portal holds (merged into another record, or taken off the case), so the
    delivery cannot say whose answers they are. Permanent: the worker asks the CMS for the case
    once more before it records this (`DeliveryWorker`), so a retry after the CMS has made (or
    restored) the person record delivers."""

    CODE = "child_without_cms_person_id"

    def __init__(self, case_reference: str, missing: int, named: int) -> None:
        super().__init__(
            self.CODE,
            permanent=True,
            reason=f"{missing} of {named} children have no person id the CMS still lists",
        )
        self.case_reference = case_reference


class ChildrenShareAPersonId(CmsFailure):
    """Two children the request names have the same CMS person id: the CMS would file both
    children's answers on one person. The portal keeps one child per person id on a case, so
    this is a fault to look into, never retried."""

    CODE = "children_share_cms_person_id"

    def __init__(self, repeated: int, named: int) -> None:
        super().__init__(
            self.CODE, permanent=True, reason=f"{repeated} of {named} children share a person id"
        )


class AnswerForChildNotOnRequest(CmsFailure):
    """An answer or a document is keyed by a child the request does not name: it could not be
    sent without the portal's own id for that child, so it is not sent at all."""

    CODE = "answer_for_child_not_on_request"

    def __init__(self, count: int) -> None:
        super().__init__(self.CODE, permanent=True, reason=f"{count} answers or documents")


class SafeCopyPending(CmsFailure):
    """A document's safe copy is still being made: the delivery waits for the disarm worker
    and tries again (its backoff), as it does for an outage."""

    CODE = "document_being_made_safe"

    def __init__(self, waiting: int) -> None:
        super().__init__(self.CODE, permanent=False, reason=f"{waiting} documents")


class SafeCopyFailed(CmsFailure):
    """A document could not be made safe, so there is no safe copy to deliver. Permanent: the
    same document fails the same way. An administrator may deliver originals instead
    (`[attachments] deliver_to_cms = "original"`) and retry, or cancel and file by hand."""

    CODE = "document_not_made_safe"

    def __init__(self, codes: list[str]) -> None:
        reasons = ", ".join(sorted(set(codes)))
        super().__init__(self.CODE, permanent=True, reason=f"{len(codes)} documents ({reasons})")


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
    named_children(contribution.request)  # before anything is decrypted for nothing
    answers, documents = _opened_content(
        RecordCipher(keyring, session), keyring, attachments, contribution
    )
    confirmations = {
        confirmation.child_id: confirmation
        for confirmation in session.scalars(
            sa.select(ChildConfirmation).where(
                ChildConfirmation.request_id == contribution.request_id
            )
        )
    }
    return delivery_from(contribution, idempotency_key, answers, documents, confirmations)


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
                    joinedload(DelegationRequest.children),
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
) -> tuple[dict[str, Any], tuple[FiledDocument, ...]]:
    """The answers and the documents (all but those the scanner refused), decrypted."""
    # In a fixed order: every attempt must send the same body under the same key.
    sent = sorted(
        (found for found in contribution.attachments if found.scan_status != ScanStatus.REFUSED),
        key=lambda found: (found.created_at, str(found.id)),
    )
    if attachments.deliver_to_cms == "safe_copy":
        _check_safe_copies(sent)
    try:
        answers = cipher.open_json(contribution, "answers_enc") or {}
        documents = tuple(
            (attachment.answer_key, _document(cipher, keyring, attachments, attachment))
            for attachment in sent
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
    documents: Sequence[FiledDocument],
    confirmations: Mapping[uuid.UUID, ChildConfirmation] | None = None,
) -> Delivery:
    """The body sent for a submitted contribution, from its request, case and partner, the
    content already opened and the partner's confirmation of each child."""
    request = contribution.request
    assert contribution.submitted_at is not None  # noqa: S101 - _submitted_contribution's check
    children = named_children(request)
    case_answers, case_documents, sections = _sorted_out(children, answers, documents)
    return Delivery(
        idempotency_key=idempotency_key,
        case_reference=request.case.cms_reference,
        request_reference=request.reference,
        version=contribution.version,
        partner_organisation=request.partner_organisation.name,
        submitted_at=contribution.submitted_at.isoformat(timespec="seconds"),
        form_template=request.form_template,
        form_template_version=request.form_template_version,
        answers=case_answers,
        documents=case_documents,
        children=tuple(
            _delivered(person_id, sections[str(child.id)], (confirmations or {}).get(child.id))
            for child, person_id in children
        ),
    )


def named_children(request: DelegationRequest) -> list[tuple[Child, str]]:
    """The children the request names, in the family's order, each with its CMS person id;
    ChildrenWithoutPersonId when any has none, or one the CMS no longer lists the child under
    (never filed on a stale record); ChildrenShareAPersonId when two have the same."""
    children = sorted(request.children, key=lambda child: (child.position, str(child.id)))
    missing = sum(
        child.cms_person_id is None or child.delisted_at is not None for child in children
    )
    if missing:
        raise ChildrenWithoutPersonId(request.case.cms_reference, missing, len(children))
    people = Counter(child.cms_person_id for child in children)
    sharing = sum(count for count in people.values() if count > 1)
    if sharing:
        raise ChildrenShareAPersonId(sharing, len(children))
    return [(child, child.cms_person_id or "") for child in children]


class _Section:
    """One child's answers (by bare question id) and documents, as they are sorted out."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.documents: list[Document] = []


def _sorted_out(
    children: list[tuple[Child, str]],
    answers: dict[str, Any],
    documents: Sequence[FiledDocument],
) -> tuple[dict[str, Any], tuple[Document, ...], dict[str, _Section]]:
    """The case's answers and documents, and each child's section (by the child's id): an
    answer keyed `<question>:<child id>` goes to that child's section under the bare question
    id. AnswerForChildNotOnRequest when a key names a child the request does not."""
    sections = {str(child.id): _Section() for child, _ in children}
    case_answers: dict[str, Any] = {}
    case_documents: list[Document] = []
    strays = 0
    for key, value in answers.items():
        question, child_id = _split(key)
        if child_id is None:
            case_answers[question] = value
        elif child_id in sections:
            sections[child_id].answers[question] = value
        else:
            strays += 1
    for key, document in documents:
        question, child_id = _split(key)
        if child_id is None:
            case_documents.append(document)
        elif child_id in sections:
            sections[child_id].documents.append(document)
        else:
            strays += 1
    if strays:
        raise AnswerForChildNotOnRequest(strays)
    return case_answers, tuple(case_documents), sections


def _split(key: str) -> tuple[str, str | None]:
    """An answer key's question id, and the child it is about (None: the case as a whole)."""
    question, separator, child_id = key.partition(CHILD_SEPARATOR)
    return question, (child_id if separator else None)


def _delivered(
    person_id: str, section: _Section, confirmation: ChildConfirmation | None
) -> DeliveredChild:
    return DeliveredChild(
        person_id=person_id,
        confirmation=None if confirmation is None else str(confirmation.answer),
        matched_on=(
            None
            if confirmation is None or confirmation.matched_on is None
            else str(confirmation.matched_on)
        ),
        answers=section.answers,
        documents=tuple(section.documents),
    )


def _check_safe_copies(attachments: list[Attachment]) -> None:
    """SafeCopyFailed when a document could not be made safe; SafeCopyPending while one is
    still being made."""
    failed = [
        a.safe_failure or "unknown" for a in attachments if a.safe_status == SafeCopyStatus.FAILED
    ]
    if failed:
        raise SafeCopyFailed(failed)
    waiting = sum(a.safe_status == SafeCopyStatus.PENDING for a in attachments)
    if waiting:
        raise SafeCopyPending(waiting)


def _document(
    cipher: RecordCipher, keyring: Keyring, settings: AttachmentSettings, attachment: Attachment
) -> Document:
    """The document as delivered: its safe copy, or (by configuration) its original."""
    name = cipher.open_text(attachment, "filename_enc") or f"document-{attachment.id}"
    expected, content_type = attachment.sha256, attachment.content_type
    if settings.deliver_to_cms == "original":
        chunks = open_attachment(attachment, keyring=keyring, settings=settings)
    else:
        chunks = open_safe_copy(attachment, keyring=keyring, settings=settings)
        expected = attachment.safe_sha256
        content_type = attachment.safe_content_type or "application/octet-stream"
        name = safe_copy_name(name, content_type)
    content = b"".join(chunks)
    digest = hashlib.sha256(content).hexdigest()
    if expected is not None and expected.hex() != digest:
        raise DecryptionError(f"attachment {attachment.id} does not match its digest")
    return Document(
        filename=name,
        content_type=content_type,
        sha256=digest,
        content=content,
    )
