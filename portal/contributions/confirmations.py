"""The partner confirms each child a request names before answering anything about them: "We
hold a record for this child" (and what it matched on), "We do not know this child", or "This
is not the child we know". Answers are asked, and accepted, only about the children it knows;
knowing none closes the request with nothing shared and tells the social worker. Each save is
audited in the request's transaction; once a version is sent the confirmations are fixed.

A partner sees only the identifiers its kind of organisation matches on (the policy module
says which): the others are never even decrypted for its pages.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from portal import notifications
from portal.audit import Actor, AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.policy import child_identifiers_shown_to
from portal.cases.identifiers import SEALED_COLUMN, ChildIdentifier, shown
from portal.contributions import documents, services
from portal.contributions.services import ContributionRefused
from portal.crypto.records import RecordCipher
from portal.forms_catalogue.answers import CHILD_SEPARATOR
from portal.lifecycle import REQUEST_LIFECYCLE, RequestStatus
from portal.models import Child, ChildConfirmation, DelegationRequest, User

# What the route modules name, so that they never import the data model themselves.
from portal.models import ChildKnown as ChildKnown
from portal.models import MatchedOn as MatchedOn
from portal.requests.services import children_of, discard_draft
from portal.settings import AttachmentSettings

# The identifier each "matched on" choice stands for; name and date of birth is always offered.
_IDENTIFIER_MATCHED = {
    MatchedOn.UPN: ChildIdentifier.UPN,
    MatchedOn.NHS_NUMBER: ChildIdentifier.NHS_NUMBER,
}
_KNOWN = ChildKnown.KNOWN
# The identifiers a viewer may see, as the route modules name them.
Seen = frozenset[ChildIdentifier]


@dataclass(frozen=True)
class Identifier:
    """One of a child's identifiers as a page shows it: "NHS number", "943 476 5919"."""

    kind: ChildIdentifier
    value: str

    @property
    def label(self) -> str:
        return self.kind.label


@dataclass(frozen=True)
class ChildOnRequest:
    """A child the request names, as the partner's pages show them, with its confirmation."""

    id: str
    name: str
    date_of_birth: str
    identifiers: tuple[Identifier, ...]
    answer: ChildKnown | None
    matched_on: MatchedOn | None

    @property
    def matched_on_choices(self) -> tuple[MatchedOn, ...]:
        """What the partner may say it matched on: an identifier only when the child has it
        and the partner may see it; name and date of birth always."""
        held = {identifier.kind for identifier in self.identifiers}
        return tuple(
            choice
            for choice in MatchedOn
            if _IDENTIFIER_MATCHED.get(choice) is None or _IDENTIFIER_MATCHED[choice] in held
        )


def identifiers_seen_by(
    found: DelegationRequest, police_identifiers: Iterable[str]
) -> frozenset[ChildIdentifier]:
    """The identifiers people at the request's partner may see ([requests] police_identifiers
    names the police's, if any)."""
    return child_identifiers_shown_to(
        found.partner_organisation.kind,
        police_identifiers,
    )


def identifiers_of(
    cipher: RecordCipher, child: Child, seen: frozenset[ChildIdentifier]
) -> tuple[Identifier, ...]:
    """The child's identifiers among those `seen`, in their shown form. Others stay sealed."""
    found = []
    for kind in (ChildIdentifier.UPN, ChildIdentifier.NHS_NUMBER):
        if kind not in seen:
            continue
        value = cipher.open_text(child, SEALED_COLUMN[kind])
        if value:
            found.append(Identifier(kind, shown(kind, value)))
    return tuple(found)


def children_on(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    seen: frozenset[ChildIdentifier],
    *,
    every_child: bool = False,
    confirmed: dict[uuid.UUID, ChildConfirmation] | None = None,
) -> list[ChildOnRequest]:
    """The request's children in the family's order, each with its confirmation so far.

    A child the partner said it does not know, or is not the child it knows, keeps only its
    name and date of birth: the identifier it was offered to match on is not shown again.
    `every_child` shows them for every child: to the council, and to the partner while it can
    still change its answer."""
    if confirmed is None:
        confirmed = services.confirmations_of(session, found)
    children = []
    for child in children_of(found):
        confirmation = confirmed.get(child.id)
        disowned = confirmation is not None and confirmation.answer is not ChildKnown.KNOWN
        children.append(
            ChildOnRequest(
                id=str(child.id),
                name=cipher.open_text(child, "name_enc") or "",
                date_of_birth=cipher.open_text(child, "date_of_birth_enc") or "",
                identifiers=()
                if disowned and not every_child
                else identifiers_of(cipher, child, seen),
                answer=confirmation.answer if confirmation else None,
                matched_on=confirmation.matched_on if confirmation else None,
            )
        )
    return children


FIXED = "Your answers have been sent with these children confirmed: they cannot change"
Choice = tuple[ChildKnown, MatchedOn | None]
KNOWN_FIELD = "known-"
MATCHED_FIELD = "matched-"


def read_confirmations(
    form: Mapping[str, str], children: list[ChildOnRequest]
) -> tuple[dict[str, Choice], dict[str, str]]:
    """Each child's choice from the posted form (`known-<child id>`, `matched-<child id>`),
    and the errors by field; nothing is chosen unless there is no error at all. What it
    matched on is kept only with "we hold a record", and only one offered for that child."""
    choices: dict[str, Choice] = {}
    errors: dict[str, str] = {}
    for child in children:
        try:
            answer = ChildKnown(form.get(KNOWN_FIELD + child.id, ""))
        except ValueError:
            errors[KNOWN_FIELD + child.id] = f"Select whether you hold a record for {child.name}"
            continue
        if answer is not ChildKnown.KNOWN:
            choices[child.id] = (answer, None)
            continue
        matched = form.get(MATCHED_FIELD + child.id, "")
        offered = {choice.value: choice for choice in child.matched_on_choices}
        if not matched:
            errors[MATCHED_FIELD + child.id] = f"Select what you matched {child.name} on"
        elif matched not in offered:
            errors[MATCHED_FIELD + child.id] = "Select one of the ways shown for this child"
        else:
            choices[child.id] = (answer, offered[matched])
    ids = {child.id for child in children}
    stray = [
        key
        for key in form
        if key.startswith((KNOWN_FIELD, MATCHED_FIELD)) and key.partition("-")[2] not in ids
    ]
    if stray and children and not errors:
        errors[KNOWN_FIELD + children[0].id] = "Answer only for the children this page names"
    return ({} if errors else choices), errors


def current_values(children: list[ChildOnRequest]) -> dict[str, str]:
    """The confirmations so far as the form's fields, to show them chosen."""
    values = {}
    for child in children:
        if child.answer is not None:
            values[KNOWN_FIELD + child.id] = child.answer.value
        if child.matched_on is not None:
            values[MATCHED_FIELD + child.id] = child.matched_on.value
    return values


def knows_none(choices: Mapping[str, Choice]) -> bool:
    return bool(choices) and all(answer is not ChildKnown.KNOWN for answer, _ in choices.values())


def save(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    partner: User,
    choices: Mapping[str, Choice],
    attachments: AttachmentSettings,
) -> bool:
    """Record the partner's confirmation of every child (changing earlier ones while nothing
    has been sent). Returns True when it knows none of them and the request has closed."""
    if services.confirmations_fixed(session, found):
        raise ContributionRefused(FIXED)
    if set(choices) != {str(child.id) for child in found.children}:
        raise ContributionRefused("Answer for every child the request names")
    actor = actor_for(partner)
    now = datetime.now(UTC)
    confirmed = services.confirmations_of(session, found)
    for child in children_of(found):
        answer, matched_on = choices[str(child.id)]
        confirmation = confirmed.get(child.id) or ChildConfirmation(
            request_id=found.id, child_id=child.id
        )
        confirmation.answer, confirmation.matched_on = answer, matched_on
        confirmation.confirmed_by_id, confirmation.confirmed_at = partner.id, now
        session.add(confirmation)
    # The request's row version: of this and a send from another tab, the second fails.
    found.updated_at = now
    session.flush()
    _record_confirmed(session, found, actor, choices)
    if knows_none(choices):
        close_as_not_known(session, found, actor, now)
        return True
    unknown = {uuid.UUID(child) for child, (answer, _) in choices.items() if answer != _KNOWN}
    _forget_answers_about(session, cipher, found, partner, unknown, attachments)
    return False


def _record_confirmed(
    session: Session, found: DelegationRequest, actor: Actor, choices: Mapping[str, Choice]
) -> None:
    answers = Counter(answer.value for answer, _ in choices.values())
    matched = sorted({m.value for _, m in choices.values() if m is not None})
    record_event(
        session,
        AuditAction.CHILDREN_CONFIRMED,
        actor=actor,
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
        details={
            **{answer.value: answers.get(answer.value, 0) for answer in ChildKnown},
            "matched_on": ",".join(matched) or None,
        },
    )


def close_as_not_known(
    session: Session, found: DelegationRequest, actor: Actor, now: datetime
) -> None:
    """The partner knows none of the children: close the request with nothing shared, destroy
    any draft as a withdrawal does, and tell the social worker (reference and link only)."""
    REQUEST_LIFECYCLE.move(found, RequestStatus.CHILD_NOT_KNOWN)
    found.closed_at = now
    discard_draft(session, found)
    record_event(
        session,
        AuditAction.REQUEST_CLOSED_CHILD_NOT_KNOWN,
        actor=actor,
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
        details={"children": len(found.children)},
    )
    notifications.notify_workers_child_not_known(session, found)


def _forget_answers_about(
    session: Session,
    cipher: RecordCipher,
    found: DelegationRequest,
    partner: User,
    child_ids: set[uuid.UUID],
    attachments: AttachmentSettings,
) -> None:
    """A child the partner now says it does not know: the draft's answers and documents about
    them go, so that nothing about a child it does not know is ever sent."""
    draft = services.draft_of(session, found)
    if draft is None or not child_ids:
        return
    about = {str(child_id) for child_id in child_ids}

    def concerns(key: str | None) -> bool:
        return (key or "").partition(CHILD_SEPARATOR)[2] in about

    answers = services.answers_of(cipher, draft)
    kept = {key: value for key, value in answers.items() if not concerns(key)}
    if kept != answers:
        cipher.seal_json(draft, "answers_enc", kept)
    for attachment in [a for a in draft.attachments if concerns(a.answer_key)]:
        documents.remove_document(session, attachments, found, partner, str(attachment.id))
    draft.updated_at = datetime.now(UTC)
    session.flush()
