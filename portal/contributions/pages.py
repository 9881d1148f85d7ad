"""What the contribution pages show, gathered for the route modules: a section of questions,
check your answers, and a sent version under review. Each read of a child's details or of a
contribution is queued on the audit trail here, to stay on the record whatever the response
(portal/audit/lasting.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.attachments.safe_copies import safe_copy_name
from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.auth.policy import child_identifiers_shown_to
from portal.cases.identifiers import ChildIdentifier
from portal.contributions import receipts, services
from portal.contributions.answers_form import (
    Field,
    fields_of,
    file_fields_of,
    first_section_with_error,
    shown,
)
from portal.contributions.changes import PartChanges, SentDocument, SentVersion, what_changed
from portal.contributions.confirmations import ChildOnRequest, children_on
from portal.crypto import DecryptionError
from portal.crypto.records import RecordCipher
from portal.forms_catalogue import FormTemplate, catalogue
from portal.forms_catalogue.template import Section
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import Attachment, DelegationRequest, OrganisationKind, SafeCopyStatus, User

# What the route modules name, so that they never import the data model themselves.
from portal.models import Contribution as Contribution
from portal.models import ReviewDecision as ReviewDecision
from portal.requests.access import council_may_change
from portal.requests.pages import record_read_of

# Council staff see every identifier the CMS holds for a child.
COUNCIL_SEES = child_identifiers_shown_to(OrganisationKind.COUNCIL)
Rows = list[tuple[Section, list[tuple[Field, str]]]]
Documents = list[tuple[Attachment, str | None]]  # each with its (decrypted) file name
# A sent document as reviewers see it: with its name, and its safe copy's name once ready.
ReviewedDocument = tuple[Attachment, str | None, str | None]


def template_of(found: DelegationRequest) -> FormTemplate:
    return catalogue().get(found.form_template, found.form_template_version)


def children_named(
    session: Session, cipher: RecordCipher, found: DelegationRequest
) -> list[tuple[str, str]]:
    """The children the partner answers about as (id, name), in the family's order: those it
    confirmed it holds a record for (portal/contributions/confirmations.py)."""
    return [
        (str(child.id), cipher.open_text(child, "name_enc") or "")
        for child in services.children_answered_for(session, found)
    ]


def sent_version(session: Session, found: DelegationRequest, version: str) -> Contribution | None:
    """The sent version with this number (as the URL gives it), or None."""
    for contribution in services.versions(session, found):
        if str(contribution.version) == version and contribution.submitted_at is not None:
            return contribution
    return None


@dataclass(frozen=True)
class Questions:
    """One section of a request's questions, as inputs for the request's children."""

    template: FormTemplate
    section: Section
    fields: list[Field]
    file_fields: list[Field]

    @property
    def name_children(self) -> bool:
        return any(f.child_name for f in (*self.fields, *self.file_fields))


def questions_in(
    session: Session, cipher: RecordCipher, found: DelegationRequest, section_id: str
) -> Questions | None:
    """A section's questions, asked about the children the partner knows; None if there is
    no such section."""
    template = template_of(found)
    part = next((s for s in template.sections if s.id == section_id), None)
    if part is None:
        return None
    children = children_named(session, cipher, found)
    return Questions(template, part, fields_of(part, children), file_fields_of(part, children))


@dataclass(frozen=True)
class SectionPage:
    request_: DelegationRequest
    template: FormTemplate
    section: Section
    fields: list[Field]
    file_fields: list[Field]
    files: dict[str, Documents]
    answers: dict[str, Any]
    position: int


def section_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    questions: Questions,
    viewer: User,
    posted: dict[str, Any] | None = None,
) -> SectionPage:
    """A section's questions with the answers so far (and what was just posted, when it is
    sent back with errors) and the documents added to each upload."""
    if questions.name_children:
        record_read_of(found, viewer, AuditAction.CHILD_DETAILS_VIEWED)
    draft = services.draft_of(session, found)
    attachments = draft.attachments if draft else []
    sections = questions.template.sections
    return SectionPage(
        request_=found,
        template=questions.template,
        section=questions.section,
        fields=questions.fields,
        file_fields=questions.file_fields,
        files={
            f.key: [
                (a, cipher.open_text(a, "filename_enc"))
                for a in attachments
                if a.answer_key == f.key
            ]
            for f in questions.file_fields
        },
        answers={**services.working_answers(session, cipher, found), **(posted or {})},
        position=[s.id for s in sections].index(questions.section.id) + 1,
    )


@dataclass(frozen=True)
class CheckPage:
    request_: DelegationRequest
    rows: Rows
    first_error_section: str | None
    children: list[ChildOnRequest]
    fixed: bool  # the children were confirmed with a version already sent


def check_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    viewer: User,
    errors: dict[str, str],
    seen: frozenset[ChildIdentifier],
) -> CheckPage | None:
    """Every answer of the draft, section by section, after which children the partner
    knows (with the identifiers it may see); None when there is no draft."""
    draft = services.draft_of(session, found)
    if draft is None:
        return None
    template = template_of(found)
    answers = services.answers_of(cipher, draft)
    children = children_named(session, cipher, found)
    record_read_of(found, viewer, AuditAction.CHILD_DETAILS_VIEWED)

    def documents(key: str) -> str:
        attached = [a for a in draft.attachments if a.answer_key == key]
        names = (cipher.open_text(a, "filename_enc") or "" for a in attached)
        return ", ".join(names) or "None added"

    rows = [
        (
            part,
            [(f, shown(f.question, answers.get(f.key))) for f in fields_of(part, children)]
            + [(f, documents(f.key)) for f in file_fields_of(part, children)],
        )
        for part in template.sections
    ]
    return CheckPage(
        found,
        rows,
        first_section_with_error(template, errors),
        children_on(session, cipher, found, seen),
        services.confirmations_fixed(session, found),
    )


@dataclass(frozen=True)
class ReviewPage:
    request_: DelegationRequest
    contribution: Contribution
    shredded_on: datetime | None = None
    rows: Rows = field(default_factory=list)
    sections: tuple[Section, ...] = ()
    documents: list[ReviewedDocument] = field(default_factory=list)
    can_decide: bool = False
    children: list[ChildOnRequest] = field(default_factory=list)
    # What changed since the previous sent version, part by part; None for version 1.
    changes: list[PartChanges] | None = None
    previous_version: int | None = None
    # The previous version's data key is gone (shredded, whatever the request says), so
    # what changed cannot be shown.
    previous_unreadable: bool = False


def review_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    contribution: Contribution,
    viewer: User,
) -> ReviewPage:
    """A sent version as the social worker reads it (a read on the record), or, past its
    retention period, only when it was deleted (nothing left to read or record)."""
    if found.content_shredded_at is not None:
        return ReviewPage(found, contribution, shredded_on=found.content_shredded_at)
    record_lasting_event(
        AuditAction.CONTRIBUTION_VIEWED,
        actor=actor_for(viewer),
        object_type="contribution",
        object_id=contribution.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "version": contribution.version},
    )
    template = template_of(found)
    answers = services.answers_of(cipher, contribution)
    children = children_named(session, cipher, found)
    previous = previous_sent(session, found, contribution)
    try:
        before = None if previous is None else _sent(cipher, previous)
    except DecryptionError:
        before = None
    return ReviewPage(
        found,
        contribution,
        changes=_changes_since(
            session, cipher, found, before, previous, contribution, viewer, children
        ),
        previous_version=previous.version if previous else None,
        previous_unreadable=previous is not None and before is None,
        rows=[
            (part, [(f, shown(f.question, answers.get(f.key))) for f in fields_of(part, children)])
            for part in template.sections
        ],
        sections=template.sections,
        documents=[reviewed(cipher, a) for a in contribution.attachments],
        children=children_on(session, cipher, found, COUNCIL_SEES, every_child=True),
        can_decide=contribution.status == ContributionStatus.SUBMITTED
        and found.status == RequestStatus.SUBMITTED
        and council_may_change(viewer, found),
    )


def previous_sent(
    session: Session, found: DelegationRequest, contribution: Contribution
) -> Contribution | None:
    """The version sent before this one, if any."""
    earlier = [
        c
        for c in services.versions(session, found)
        if c.submitted_at is not None and c.version < contribution.version
    ]
    return earlier[-1] if earlier else None


def _changes_since(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    before: SentVersion | None,
    previous: Contribution | None,
    contribution: Contribution,
    viewer: User,
    children: list[tuple[str, str]],
) -> list[PartChanges] | None:
    """What changed since the previous sent version (`before`, as it was read), starting from
    the parts the council asked about when it returned that version. Reading the previous
    version to compare is a read of it, on the record; none for version 1, or a previous
    version that could not be read."""
    if previous is None or before is None:
        return None
    record_lasting_event(
        AuditAction.CONTRIBUTION_VIEWED,
        actor=actor_for(viewer),
        object_type="contribution",
        object_id=previous.id,
        case_reference=found.case.cms_reference,
        details={
            "request": found.reference,
            "version": previous.version,
            "compared_with": contribution.version,
        },
    )
    review = services.review_of(session, previous)
    return what_changed(
        template_of(found),
        children,
        before,
        _sent(cipher, contribution),
        review.sections_to_revisit if review else (),
    )


def _sent(cipher: RecordCipher, contribution: Contribution) -> SentVersion:
    return SentVersion(
        contribution.version,
        services.answers_of(cipher, contribution),
        tuple(
            SentDocument(
                a.answer_key,
                cipher.open_text(a, "filename_enc") or "",
                a.sha256.hex() if a.sha256 else "",
            )
            for a in contribution.attachments
        ),
    )


def reviewed(cipher: RecordCipher, attachment: Attachment) -> ReviewedDocument:
    name = cipher.open_text(attachment, "filename_enc")
    safe_type = attachment.safe_content_type
    if attachment.safe_status != SafeCopyStatus.READY or safe_type is None:
        return attachment, name, None
    return attachment, name, safe_copy_name(name or "document", safe_type)


@dataclass(frozen=True)
class ReceiptPage:
    request_: DelegationRequest
    receipt: dict[str, Any]
    children: list[ChildOnRequest]
    sent_at: datetime


def receipt_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    contribution: Contribution,
    viewer: User,
    seen: frozenset[ChildIdentifier],
) -> ReceiptPage:
    """A sent version's receipt, with which children the partner said it knows (fixed since
    the first version was sent, and covered by the receipt's digest)."""
    record_read_of(found, viewer, AuditAction.CHILD_DETAILS_VIEWED)
    return ReceiptPage(
        found,
        receipts.receipt_document(found, contribution),
        children_on(session, cipher, found, seen),
        sent_at=contribution.submitted_at or found.updated_at,
    )


@dataclass(frozen=True)
class ConfirmationPage:
    request_: DelegationRequest
    children: list[ChildOnRequest]
    fixed: bool  # a version was sent: the confirmations are shown, not asked


def confirmation_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    viewer: User,
    seen: frozenset[ChildIdentifier],
) -> ConfirmationPage:
    """The children the request names, for the partner to say which it knows (a read of their
    details, on the record)."""
    record_read_of(found, viewer, AuditAction.CHILD_DETAILS_VIEWED)
    fixed = services.confirmations_fixed(session, found)
    return ConfirmationPage(
        found, children_on(session, cipher, found, seen, every_child=not fixed), fixed
    )
