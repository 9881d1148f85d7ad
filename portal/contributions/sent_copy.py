"""The partner's copy of what it sent, for its own safeguarding record: one sent version's
questions and answers, documents, children and receipt, gathered for the copy's page and PDF.

Who may have it (docs/receipts.md): everyone at the partner who may see the request while it
is open; after it closes (withdrawn, expired), the person who sent that version and the
organisation's partner leads, until retention deletes the content. Nobody else, at the
organisation or elsewhere: a 404 that leaves no trace. Each copy shown or downloaded is a read
of the contribution (CONTRIBUTION_VIEWED) and of the children it names, on the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.cases.identifiers import ChildIdentifier
from portal.contributions import receipts, services
from portal.contributions.answers_form import fields_of, file_fields_of, shown
from portal.contributions.confirmations import ChildOnRequest, children_on
from portal.contributions.pages import children_named, sent_version, template_of
from portal.crypto import DecryptionError
from portal.crypto.records import RecordCipher
from portal.models import Case, Contribution, DelegationRequest, Role, User
from portal.requests.access import partner_may_see
from portal.requests.pages import record_read_of


@dataclass(frozen=True)
class SentDocument:
    question: str
    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class SentCopy:
    """One sent version as its copy shows it. Past retention only the receipt is left."""

    request_: DelegationRequest
    organisation: str
    version: int
    sent_by: str
    sent_at: datetime
    receipt: dict[str, Any]
    template_title: str
    deleted: bool = False  # under the retention policy: only the receipt is left
    shredded_on: datetime | None = None
    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    documents: list[SentDocument] = field(default_factory=list)
    children: list[ChildOnRequest] = field(default_factory=list)
    content: bytes | None = None  # the canonical content the receipt's digest covers

    @property
    def receipt_json(self) -> bytes:
        return (json.dumps(self.receipt, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def may_keep_copy(
    user: User, found: DelegationRequest, contribution: Contribution, now: datetime
) -> bool:
    """Whether this person may have the copy of this sent version (see the module's rule)."""
    if user.organisation_id != found.partner_organisation_id:
        return False
    if not user.has_role(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD):
        return False
    if partner_may_see(user, found, now):
        return True
    return contribution.submitted_by_id == user.id or user.has_role(Role.PARTNER_LEAD)


def find_copy(
    session: Session, user: User, reference: str, version: str
) -> tuple[DelegationRequest, Contribution] | None:
    """The request and sent version if this person may have its copy; None otherwise."""
    found = session.scalar(
        sa.select(DelegationRequest)
        .where(DelegationRequest.reference == reference.upper())
        .options(joinedload(DelegationRequest.case).joinedload(Case.team))
    )
    if found is None or user.organisation_id != found.partner_organisation_id:
        return None
    contribution = sent_version(session, found, version)
    if contribution is None or not may_keep_copy(user, found, contribution, datetime.now(UTC)):
        return None
    return found, contribution


def sent_copy(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    contribution: Contribution,
    viewer: User,
    seen: frozenset[ChildIdentifier],
    shown_as: str,
) -> SentCopy:
    """The copy, its reading on the record (`shown_as`: "copy_page" or "copy_pdf")."""
    assert contribution.submitted_at is not None  # noqa: S101 - a sent version
    sender = (
        session.get(User, contribution.submitted_by_id) if contribution.submitted_by_id else None
    )
    basis = SentCopy(
        request_=found,
        organisation=found.partner_organisation.name,
        version=contribution.version,
        sent_by=sender.display_name if sender else "Someone at your organisation",
        sent_at=contribution.submitted_at,
        receipt=receipts.receipt_document(found, contribution),
        template_title=str(template_of(found).title),
    )
    if found.content_shredded_at is not None:
        return _shredded(basis, found.content_shredded_at)
    try:
        answers = services.answers_of(cipher, contribution)
    except DecryptionError:  # its data key destroyed: shredded, whatever the request says
        return _shredded(basis, None)
    _record_reading(found, contribution, viewer, shown_as)
    return _with_content(session, cipher, basis, contribution, answers, seen)


def _shredded(basis: SentCopy, when: datetime | None) -> SentCopy:
    return SentCopy(**{**vars(basis), "deleted": True, "shredded_on": when})


def _record_reading(
    found: DelegationRequest, contribution: Contribution, viewer: User, shown_as: str
) -> None:
    record_lasting_event(
        AuditAction.CONTRIBUTION_VIEWED,
        actor=actor_for(viewer),
        object_type="contribution",
        object_id=contribution.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "version": contribution.version, "shown_as": shown_as},
    )
    record_read_of(found, viewer, AuditAction.CHILD_DETAILS_VIEWED)


def _with_content(
    session: Session,
    cipher: RecordCipher,
    basis: SentCopy,
    contribution: Contribution,
    answers: dict[str, Any],
    seen: frozenset[ChildIdentifier],
) -> SentCopy:
    found = basis.request_
    children = children_named(session, cipher, found)
    confirmed = services.confirmations_of(session, found)
    documents = _documents(cipher, contribution, children)
    sections = []
    for part in template_of(found).sections:
        rows = [(f.label, shown(f.question, answers.get(f.key))) for f in fields_of(part, children)]
        for upload in file_fields_of(part, children):
            names = [d.name for d in documents if d.question == upload.label]
            rows.append((upload.label, ", ".join(names) or "None added"))
        sections.append((str(part.title), rows))
    return SentCopy(
        **{
            **vars(basis),
            "sections": sections,
            "documents": documents,
            "children": children_on(session, cipher, found, seen, confirmed=confirmed),
            "content": receipts.canonical_content(found, contribution, answers, confirmed.values()),
        }
    )


def _documents(
    cipher: RecordCipher, contribution: Contribution, children: list[tuple[str, str]]
) -> list[SentDocument]:
    labels = {
        upload.key: upload.label
        for part in template_of(contribution.request).sections
        for upload in file_fields_of(part, children)
    }
    return sorted(
        (
            SentDocument(
                question=labels.get(attachment.answer_key, attachment.answer_key),
                name=cipher.open_text(attachment, "filename_enc") or "document",
                size_bytes=attachment.size_bytes,
                sha256=(attachment.sha256 or b"").hex(),
            )
            for attachment in contribution.attachments
        ),
        key=lambda document: (document.question, document.name),
    )
