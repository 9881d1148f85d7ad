"""The partner's copy of what it sent, for its own safeguarding record: one sent version's
questions and answers, documents, children and receipt, gathered for the copy's page and PDF.

Who may have it (docs/receipts.md): everyone at the partner who may see the request while it
is open; after it closes (withdrawn, expired), the person who sent that version and the
organisation's partner leads, until retention deletes the content. Nobody else, at the
organisation or elsewhere: a 404 that leaves no trace.

Once the viewer may no longer see the request itself (it closed, or went to someone else), the
copy keeps only what the partner itself supplied: its answers, its documents' names, sizes and
digests, and the receipt. What the council supplied (the children's names, dates of birth and
identifiers) is left out: the children are "Child 1", "Child 2", each with the partner's own
answer about them. Each copy shown or downloaded is a read of the contribution
(CONTRIBUTION_VIEWED, details {"shown_in", "after_close"}), and while it names the children a
read of their details (CHILD_DETAILS_VIEWED), on the record.
"""

from __future__ import annotations

import hashlib
import json
import uuid
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
from portal.models import Case, ChildConfirmation, Contribution, DelegationRequest, Role, User
from portal.requests.access import partner_may_see
from portal.requests.services import children_of


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
    # The viewer may no longer see the request: only what the partner supplied is shown.
    after_close: bool = False
    sent_by_viewer: bool = False
    # The content rebuilt now does not hash to the receipt's digest: it is left out, and said.
    content_differs: bool = False

    @property
    def receipt_json(self) -> bytes:
        return (json.dumps(self.receipt, indent=2, ensure_ascii=True) + "\n").encode("ascii")

    @property
    def heading(self) -> str:
        who = "you" if self.sent_by_viewer else self.organisation
        return f"What {who} sent: {self.request_.reference}, version {self.version}"


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


def after_close_for(viewer: User, found: DelegationRequest) -> bool:
    """Whether this person may no longer see the request itself (it closed, or went to
    someone else): their copy then keeps only what the partner supplied."""
    return not partner_may_see(viewer, found, datetime.now(UTC))


def sent_versions(session: Session, found: DelegationRequest) -> list[Contribution]:
    """The request's sent versions, oldest first."""
    return list(
        session.scalars(
            sa.select(Contribution)
            .where(Contribution.request_id == found.id, Contribution.submitted_at.is_not(None))
            .order_by(Contribution.version)
        )
    )


def copies_kept(
    user: User, found: DelegationRequest, sent: list[Contribution]
) -> list[Contribution]:
    """Those of the sent versions whose copies this person may have: the links a withdrawn or
    closed request's page gives (its receipts' pages are gone with it; each copy carries its
    receipt)."""
    now = datetime.now(UTC)
    return [version for version in sent if may_keep_copy(user, found, version, now)]


# A request and one of its sent versions.
SentVersion = tuple[DelegationRequest, Contribution]


def find_copy(session: Session, user: User, reference: str, version: str) -> SentVersion | None:
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
        after_close=after_close_for(viewer, found),
        sent_by_viewer=contribution.submitted_by_id == viewer.id,
    )
    if found.content_shredded_at is not None:
        return _shredded(basis, found.content_shredded_at)
    try:
        answers = services.answers_of(cipher, contribution)
    except DecryptionError:  # its data key destroyed: shredded, whatever the request says
        return _shredded(basis, None)
    _record_reading(basis, contribution, viewer, shown_as)
    return _with_content(session, cipher, basis, contribution, answers, seen)


def _shredded(basis: SentCopy, when: datetime | None) -> SentCopy:
    return SentCopy(**{**vars(basis), "deleted": True, "shredded_on": when})


def _record_reading(
    basis: SentCopy, contribution: Contribution, viewer: User, shown_as: str
) -> None:
    found = basis.request_
    shown: dict[str, str | int | bool | None] = {
        "shown_in": shown_as,
        "after_close": basis.after_close,
    }
    record_lasting_event(
        AuditAction.CONTRIBUTION_VIEWED,
        actor=actor_for(viewer),
        object_type="contribution",
        object_id=contribution.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "version": contribution.version, **shown},
    )
    if basis.after_close:
        return  # the children are not named: no read of their details
    record_lasting_event(
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(viewer),
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
        details=shown,
    )


def _with_content(
    session: Session,
    cipher: RecordCipher,
    basis: SentCopy,
    contribution: Contribution,
    answers: dict[str, Any],
    seen: frozenset[ChildIdentifier],
) -> SentCopy:
    found = basis.request_
    confirmed = services.confirmations_of(session, found)
    if basis.after_close:
        children, on_request = _numbered_children(session, found, confirmed)
    else:
        children = children_named(session, cipher, found)
        on_request = children_on(session, cipher, found, seen, confirmed=confirmed)
    documents = _documents(cipher, contribution, children)
    sections = []
    for part in template_of(found).sections:
        rows = [(f.label, shown(f.question, answers.get(f.key))) for f in fields_of(part, children)]
        for upload in file_fields_of(part, children):
            names = [d.name for d in documents if d.question == upload.label]
            rows.append((upload.label, ", ".join(names) or "None added"))
        sections.append((str(part.title), rows))
    content = receipts.canonical_content(found, contribution, answers, confirmed.values())
    differs = hashlib.sha256(content).digest() != contribution.receipt_digest
    return SentCopy(
        **{
            **vars(basis),
            "sections": sections,
            "documents": documents,
            "children": on_request,
            "content": None if differs else content,
            "content_differs": differs,
        }
    )


def _numbered_children(
    session: Session, found: DelegationRequest, confirmed: dict[uuid.UUID, ChildConfirmation]
) -> tuple[list[tuple[str, str]], list[ChildOnRequest]]:
    """The children as "Child 1", "Child 2"... in the family's order, with the partner's own
    answer about each: nothing the council supplied about them (nothing is decrypted)."""
    numbered = {child.id: f"Child {n}" for n, child in enumerate(children_of(found), 1)}
    answered = [
        (str(child.id), numbered.get(child.id, "A child"))
        for child in services.children_answered_for(session, found)
    ]
    on_request = [
        ChildOnRequest(
            id=str(child_id),
            name=label,
            date_of_birth="",
            identifiers=(),
            answer=confirmed[child_id].answer if child_id in confirmed else None,
            matched_on=confirmed[child_id].matched_on if child_id in confirmed else None,
        )
        for child_id, label in numbered.items()
    ]
    return answered, on_request


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
