"""What the request pages show, gathered for the route modules: finding a case, the case's
children for a new request, and a request's page as council staff and as the partner see it.
Each read of a child's details or of a request is queued on the audit trail here, to stay on
the record whatever the response (portal/audit/lasting.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_lasting_event
from portal.auth.login import actor_for
from portal.auth.policy import child_identifiers_shown_to
from portal.cases.directory import Asker, CaseLookupUnavailable, LocalCaseDirectory

# What the route modules name, so that they never import the case directory themselves.
from portal.cases.directory import CaseSummary as CaseSummary
from portal.connector.runtime import case_directory
from portal.contributions.confirmations import ChildOnRequest, children_on, identifiers_seen_by
from portal.contributions.receipt_proofs import ProofState, proof_states
from portal.contributions.services import (
    confirmations_of,
    fixed_by,
    still_to_confirm,
    was_sent,
)
from portal.contributions.services import versions as contribution_versions
from portal.crypto.records import RecordCipher
from portal.forms_catalogue import FormTemplate, TemplateNotFound, catalogue
from portal.lifecycle import RequestStatus
from portal.models import (
    AuditEvent,
    Contribution,
    DelegationRequest,
    Organisation,
    OrganisationKind,
    Review,
    Team,
    User,
)
from portal.pilot.recording import record_opening
from portal.requests import services
from portal.requests.access import council_may_change, council_may_work_on
from portal.requests.services import RequestRefused
from portal.settings import LawfulBasis

Child = tuple[str | None, str | None]  # name and date of birth, as the pages show them


@dataclass(frozen=True)
class CaseLookup:
    case: CaseSummary | None
    unavailable: str | None = None  # why the CMS could not be asked, safe to show


def look_up_case(
    session: Session, cipher: RecordCipher, worker: User, reference: str
) -> CaseLookup:
    """The case with this CMS reference if the worker may open it. The lookup is on the
    record either way; what was typed is recorded only when it named a case they may open
    (it may be anything, and the audit trail can never be shredded)."""
    asker = Asker(
        council_id=worker.organisation_id,
        may_work_on=lambda team_id: council_may_work_on(worker, team_id),
        actor=actor_for(worker),
    )
    lookup = CaseLookup(None)
    try:
        case = case_directory(session, cipher, asker).find(reference)
    except CaseLookupUnavailable as error:
        lookup = CaseLookup(None, str(error))
    else:
        if case is not None and council_may_work_on(worker, case.team_id):
            lookup = CaseLookup(case)  # another team's case is as if it were not there
    record_lasting_event(
        AuditAction.CASE_LOOKED_UP,
        actor=actor_for(worker),
        case_reference=lookup.case.reference if lookup.case else None,
        details={"found": lookup.case is not None, "cms_unavailable": bool(lookup.unavailable)},
    )
    return lookup


def case_to_ask_about(
    session: Session, cipher: RecordCipher, worker: User, case_reference: str
) -> CaseSummary | None:
    """The case a new request is about, with its children's names and dates of birth (a
    read of their details, on the record), or None if the worker may not open it."""
    # The lookup has just brought the portal's copy of the case in step with the CMS.
    case = LocalCaseDirectory(session, cipher).find(case_reference)
    if case is None or not council_may_work_on(worker, case.team_id):
        return None
    record_lasting_event(
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(worker),
        object_type="case",
        object_id=case.reference,
        case_reference=case.reference,
        details={"children": len(case.children)},
    )
    return case


def template_for_partner(session: Session, choice: str, partner_id: str) -> FormTemplate:
    """The chosen questions ("id:version"), if they are for the chosen partner's kind."""
    template_id, _, version = choice.partition(":")
    try:
        template = catalogue().get(template_id, int(version))
    except (TemplateNotFound, ValueError):
        raise RequestRefused("form_template", "Select the questions to ask") from None
    try:
        partner = session.get(Organisation, uuid.UUID(partner_id))
    except ValueError:
        partner = None
    if partner is not None and partner.kind.value not in template.for_organisation_kinds:
        raise RequestRefused(
            "form_template",
            f"These questions are not for a {partner.kind.value} organisation: choose others",
        )
    return template


@dataclass(frozen=True)
class CouncilRequestPage:
    request_: DelegationRequest
    purpose: str | None
    message: str | None
    children: list[Child]
    can_change: bool
    lawful_basis: str
    template_title: str
    versions: list[Contribution]
    delivery: services.Delivery | None
    # What the partner said about each child, once it was sent (or closed the request).
    confirmed: list[ChildOnRequest]
    # The case's page opens for the viewer (its team's): the issuer of a request on a case
    # since moved to another team sees the request, not the case.
    case_opens: bool = False


def council_request_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    viewer: User,
    lawful_bases: list[LawfulBasis],
) -> CouncilRequestPage:
    record_read_of(found, viewer, AuditAction.REQUEST_VIEWED)
    template = _template(found)
    return CouncilRequestPage(
        request_=found,
        purpose=cipher.open_text(found, "purpose_enc"),
        message=cipher.open_text(found, "message_enc"),
        children=_children(cipher, found),
        can_change=council_may_change(viewer, found),
        lawful_basis=next(
            (b.label for b in lawful_bases if b.code == found.lawful_basis), found.lawful_basis
        ),
        template_title=template.title if template else found.form_template,
        versions=contribution_versions(session, found),
        delivery=services.delivery_of(session, found),
        confirmed=_what_the_partner_said(session, cipher, found),
        case_opens=council_may_work_on(viewer, found.case.team_id),
    )


def _what_the_partner_said(
    session: Session, cipher: RecordCipher, found: DelegationRequest
) -> list[ChildOnRequest]:
    """The partner's confirmation of each child, as the council sees it: only once it is part
    of what was sent, or closed the request. Until then the partner may still change it, and
    what it said of a version it never sent (a withdrawn or lapsed request) is not shown."""
    if not was_sent(found, contribution_versions(session, found)):
        return []
    council = child_identifiers_shown_to(OrganisationKind.COUNCIL)
    shown = children_on(session, cipher, found, council, every_child=True)
    return shown if any(child.answer for child in shown) else []


@dataclass(frozen=True)
class Contact:
    """Someone the partner's page names: their name and work address, nothing else."""

    display_name: str
    email: str | None


@dataclass(frozen=True)
class PartnerRequestPage:
    request_: DelegationRequest
    purpose: str | None
    message: str | None
    children: list[ChildOnRequest]
    worker: Contact | None
    team: Team
    named: Contact | None
    template: FormTemplate | None
    versions: list[Contribution]
    first_viewed: dict[str, datetime]
    # Whether each sent version's receipt can be had with its proof from the audit log yet.
    proofs: dict[str, ProofState]
    returned: tuple[str | None, list[str]] | None
    to_confirm: bool = False  # the partner has yet to say which children it knows
    confirmations_fixed: bool = False  # sent with a version: no longer changed


def partner_request_page(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    viewer: User,
    police_identifiers: Iterable[str] = (),
) -> PartnerRequestPage:
    """The request as its partner sees it, each child with only the identifiers its kind of
    organisation may see. Closed because the partner knows none of the children, it shows
    nothing of them, nor why they were asked about: only that it is closed."""
    record_read_of(found, viewer, AuditAction.REQUEST_VIEWED)
    record_opening(session, found, viewer)  # the pilot's "opened" (docs/pilot.md)
    closed = found.status is RequestStatus.CHILD_NOT_KNOWN
    every = [] if closed else contribution_versions(session, found)
    seen = identifiers_seen_by(found, police_identifiers)
    # Read once for the children, whether any is still to confirm, and whether they are fixed.
    confirmed = {} if closed else confirmations_of(session, found)
    fixed = fixed_by(found, every)
    return PartnerRequestPage(
        request_=found,
        purpose=None if closed else cipher.open_text(found, "purpose_enc"),
        message=None if closed else cipher.open_text(found, "message_enc"),
        children=[] if closed else children_on(session, cipher, found, seen, confirmed=confirmed),
        worker=_contact(session, found.requested_by_id),
        team=found.case.team,
        named=_contact(session, found.named_recipient_id),
        template=None if closed else _template(found),
        versions=every,
        first_viewed=_first_viewed(session, every),
        proofs=proof_states(session, every),
        returned=_what_is_needed(session, cipher, found, every),
        to_confirm=still_to_confirm(found, confirmed, fixed),
        confirmations_fixed=fixed,
    )


def _contact(session: Session, user_id: uuid.UUID | None) -> Contact | None:
    if user_id is None:
        return None
    found = session.execute(
        sa.select(User.display_name, User.email).where(User.id == user_id)
    ).first()
    return None if found is None else Contact(found.display_name, found.email)


def record_read_of(found: DelegationRequest, viewer: User, action: AuditAction) -> None:
    """A read of the request (or of the children it names), on the record whatever the
    response: for every page that shows it, the partner's and the council's alike."""
    record_lasting_event(
        action,
        actor=actor_for(viewer),
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
    )


def _children(cipher: RecordCipher, found: DelegationRequest) -> list[Child]:
    return [
        (cipher.open_text(child, "name_enc"), cipher.open_text(child, "date_of_birth_enc"))
        for child in services.children_of(found)
    ]


def _template(found: DelegationRequest) -> FormTemplate | None:
    try:
        return catalogue().get(found.form_template, found.form_template_version)
    except TemplateNotFound:
        return None


def _what_is_needed(
    session: Session, cipher: RecordCipher, found: DelegationRequest, every: list[Contribution]
) -> tuple[str | None, list[str]] | None:
    """After a return: the council's reason and the titles of the parts to look at again."""
    if found.status != RequestStatus.RETURNED or not every:
        return None
    review = session.scalar(sa.select(Review).where(Review.contribution_id == every[-1].id))
    if review is None:
        return None
    template = _template(found)
    titles = {part.id: part.title for part in template.sections} if template else {}
    parts = [titles.get(section, section) for section in review.sections_to_revisit]
    return cipher.open_text(review, "reason_enc"), parts


def _first_viewed(session: Session, every: list[Contribution]) -> dict[str, datetime]:
    """When the council first read each version: for the partner's timeline."""
    ids = [str(c.id) for c in every if c.submitted_at is not None]
    if not ids:
        return {}
    rows = session.execute(
        sa.select(AuditEvent.object_id, sa.func.min(AuditEvent.occurred_at))
        .where(
            AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value,
            AuditEvent.object_id.in_(ids),
        )
        .group_by(AuditEvent.object_id)
    ).all()
    return {str(object_id): moment for object_id, moment in rows}
