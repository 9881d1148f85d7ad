"""Finding a case by its CMS reference.

`CmsCaseDirectory` asks the CMS through the connector and keeps the portal's own copy of the
case (its team, and its children's person ids, names, dates of birth, NHS numbers and UPNs,
encrypted) in step with what the CMS holds (`bring_case_in_step`). `LocalCaseDirectory`
answers from the cases the portal already holds: the page after a lookup, and a portal run with
no CMS (`[cms] adapter = "none"`, never in production). Either offers only the children the CMS
listed at the last lookup.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.cases.identifiers import SEALED_COLUMN, ChildIdentifier, InvalidIdentifier, canonical
from portal.connector.adapter import CmsAdapter, CmsCase, CmsChild, CmsFailure
from portal.crypto import DecryptionError
from portal.crypto.records import RecordCipher
from portal.models import Case, Child, Team
from portal.models.base import utcnow

CMS_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$"


@dataclass(frozen=True)
class ChildSummary:
    id: uuid.UUID
    name: str
    date_of_birth: date
    # What ties the portal's child to the CMS's person and to partners' records; None where
    # the CMS holds none (or held one that failed its check digit).
    cms_person_id: str | None = None
    nhs_number: str | None = None
    upn: str | None = None
    # The identifiers the CMS holds for the child that fail their check: to be corrected there.
    invalid: frozenset[ChildIdentifier] = frozenset()


@dataclass(frozen=True)
class CaseSummary:
    id: uuid.UUID
    reference: str
    team_id: uuid.UUID
    team_name: str
    children: tuple[ChildSummary, ...]


class CaseLookupUnavailable(Exception):
    """The CMS could not be asked just now; the message is safe to show."""


class CaseDirectory(Protocol):
    def find(self, reference: str) -> CaseSummary | None:
        """The case with this CMS reference and its children, or None.
        Raises CaseLookupUnavailable when the CMS does not answer."""


class LocalCaseDirectory:
    def __init__(self, session: Session, cipher: RecordCipher) -> None:
        self.session = session
        self.cipher = cipher

    def find(self, reference: str) -> CaseSummary | None:
        case = self.session.scalar(sa.select(Case).where(Case.cms_reference == reference.strip()))
        return None if case is None else summary(self.cipher, case, case.children)


NAME_NOT_HELD = "Name no longer held"  # what a list says of a child whose name was destroyed


def name_if_held(cipher: RecordCipher, child: Child) -> str | None:
    """The child's name, or None if it is no longer held (its data key destroyed): a list
    says NAME_NOT_HELD, and showing it is no read of the child's details."""
    try:
        return cipher.open_text(child, "name_enc") or None
    except DecryptionError:
        return None


def summary(cipher: RecordCipher, case: Case, children: list[Child]) -> CaseSummary:
    """The case and those of `children` the CMS still lists: one it no longer lists is never
    offered for a new request (it may have a new person id, or have left the case)."""
    return CaseSummary(
        case.id,
        case.cms_reference,
        case.team_id,
        case.team.name,
        tuple(_child_summary(cipher, child) for child in children if child.delisted_at is None),
    )


def _child_summary(cipher: RecordCipher, child: Child) -> ChildSummary:
    return ChildSummary(
        child.id,
        cipher.open_text(child, "name_enc") or "",
        date.fromisoformat(cipher.open_text(child, "date_of_birth_enc") or ""),
        cms_person_id=child.cms_person_id,
        nhs_number=cipher.open_text(child, SEALED_COLUMN[ChildIdentifier.NHS_NUMBER]),
        upn=cipher.open_text(child, SEALED_COLUMN[ChildIdentifier.UPN]),
        invalid=frozenset(ChildIdentifier(code) for code in child.invalid_identifiers),
    )


@dataclass(frozen=True)
class Asker:
    """Who is looking a case up: their council, which teams' cases they may open, and how the
    audit trail names them. A case they may not open is never copied into the portal."""

    council_id: uuid.UUID
    may_work_on: Callable[[uuid.UUID], bool]
    actor: Actor


_DOWN = "The case management system is not answering just now: try again in a few minutes."
_UNUSABLE = (
    "The case management system's answer about this case could not be used. Try again in a few "
    "minutes; if it happens again, ask its administrators to check the case's records."
)


class CmsCaseDirectory:
    def __init__(
        self, session: Session, cipher: RecordCipher, adapter: CmsAdapter, asker: Asker
    ) -> None:
        self.session = session
        self.cipher = cipher
        self.adapter = adapter
        self.asker = asker

    def find(self, reference: str) -> CaseSummary | None:
        reference = reference.strip()
        try:
            found = self.adapter.find_case(reference)
            if found is not None:
                believable(found)
        except CmsFailure as failure:
            raise CaseLookupUnavailable(
                _UNUSABLE if failure.code == "cms_bad_response" else _DOWN
            ) from failure
        if found is None or found.reference != reference:
            return None
        team = self.session.scalar(
            sa.select(Team).where(
                Team.name == found.team, Team.organisation_id == self.asker.council_id
            )
        )
        if team is None or not self.asker.may_work_on(team.id):
            return None  # a team the portal does not know, or not theirs: as if not there
        try:
            with self.session.begin_nested():
                case, children = bring_case_in_step(
                    self.session, self.cipher, found, team, self.asker.actor
                )
        except IntegrityError:
            # Someone else's lookup of the same case copied it first: bring that copy in step.
            case, children = bring_case_in_step(
                self.session, self.cipher, found, team, self.asker.actor
            )
        return summary(self.cipher, case, children)


def believable(found: CmsCase) -> None:
    """What the portal keeps from a CMS answer must make sense: every date of birth a date, and
    no person named twice on the case (which could not say which child is which). Otherwise
    CmsFailure `cms_bad_response`, transient: the CMS's data may be put right. Both the lookup
    and the delivery worker's refresh ask this before copying anything."""
    for child in found.children:
        try:
            date.fromisoformat(child.date_of_birth)
        except ValueError:
            raise CmsFailure(
                "cms_bad_response", permanent=False, reason="a date of birth that is not a date"
            ) from None
    people = Counter(child.person_id for child in found.children if child.person_id is not None)
    if any(count > 1 for count in people.values()):
        raise CmsFailure(
            "cms_bad_response", permanent=False, reason="a person id listed twice on the case"
        )


def refresh_held_case(
    session: Session, cipher: RecordCipher, found: CmsCase, actor: Actor
) -> Case | None:
    """Bring the children of a case the portal already holds in step with what the CMS says
    now (the delivery worker does, before it gives up on a child without a person id): the
    same rule as a social worker's lookup. The case keeps its team: a move waits for a social
    worker's lookup, which checks they may work on the new team's cases. None when the portal
    does not hold the case; a transient CmsFailure when the CMS names a person twice, and
    IntegrityError when a lookup of the same case copied a child meanwhile."""
    believable(found)
    case = session.scalar(sa.select(Case).where(Case.cms_reference == found.reference))
    if case is None:
        return None
    bring_case_in_step(session, cipher, found, case.team, actor)
    return case


def bring_case_in_step(
    session: Session, cipher: RecordCipher, found: CmsCase, team: Team, actor: Actor
) -> tuple[Case, list[Child]]:
    """Bring the portal's copy of the case in step with the CMS, recording any change: the
    case's children as the CMS lists them now, in its order. Children the CMS no longer lists
    (a child whose person id changed is a new child) stay on earlier requests but are marked
    delisted, and are not offered again unless the CMS lists them again."""
    case, created, moved = _case_copy(session, found, team)
    held = [_held(cipher, child) for child in case.children]
    matched, linked = matched_children(held, found.children)
    position = max((child.position for child in case.children), default=-1)
    children: list[Child] = []
    copied = _Copied()
    for detail, child in zip(found.children, matched, strict=True):
        if child is None:
            position += 1
            child = Child(case=case, position=position)
            session.add(child)
        copied.changed |= copy_child(cipher, child, detail, copied)
        children.append(child)
    copied.delisted = _mark_delisted(held, children)
    copied.changed |= copied.delisted > 0
    if created or moved or copied.changed:
        session.flush()
        record_event(
            session,
            AuditAction.CASE_COPIED_FROM_CMS,
            actor=actor,
            object_type="case",
            object_id=found.reference,
            case_reference=found.reference,
            details=copied.details(created=created, moved=moved, team=team, found=found),
        )
    for child in linked:
        record_event(
            session,
            AuditAction.CHILD_LINKED_TO_CMS_PERSON,
            actor=actor,
            object_type="child",
            object_id=child.id,
            case_reference=found.reference,
            details={"matched_on": "name_and_date_of_birth"},
        )
    return case, children


def _mark_delisted(held: list[HeldChild], listed: list[Child]) -> int:
    """Mark the held children the CMS no longer lists: how many were listed until now."""
    now = utcnow()
    newly = 0
    for child in (h.child for h in held):
        if child in listed or child.delisted_at is not None:
            continue
        child.delisted_at = now
        newly += 1
    return newly


def _case_copy(session: Session, found: CmsCase, team: Team) -> tuple[Case, bool, bool]:
    """The portal's case for this reference, made if it has none, in `team`: (case, created,
    moved to another team)."""
    case = session.scalar(sa.select(Case).where(Case.cms_reference == found.reference))
    created = case is None
    if case is None:
        case = Case(cms_reference=found.reference, team=team)
        session.add(case)
    moved = not created and case.team_id != team.id
    case.team = team
    return case, created, moved


@dataclass(frozen=True)
class HeldChild:
    """A child the portal holds on the case, with the name and date of birth it holds."""

    child: Child
    name: str
    date_of_birth: str


def _held(cipher: RecordCipher, child: Child) -> HeldChild:
    return HeldChild(
        child,
        cipher.open_text(child, "name_enc") or "",
        cipher.open_text(child, "date_of_birth_enc") or "",
    )


def matched_children(
    held: list[HeldChild], listed: tuple[CmsChild, ...]
) -> tuple[list[Child | None], list[Child]]:
    """For each child the CMS lists, the portal's child it is (None: a new child), and the
    portal's children given their person id now.

    A child is the portal's child with the same CMS person id. Without a person id on either
    side, name and date of birth decide, but only when exactly one child on each side has them:
    twins the CMS lists with one name and birthday are new children, never a guess. A child
    the CMS now lists with a person id is linked to the portal's child without one in the same
    way, when no portal child has that person id yet."""
    by_person = {h.child.cms_person_id: h.child for h in held if h.child.cms_person_id}
    without_id: dict[tuple[str, str], list[Child]] = {}
    for h in held:
        if h.child.cms_person_id is None:
            without_id.setdefault((h.name, h.date_of_birth), []).append(h.child)
    listed_as = Counter((c.name, c.date_of_birth) for c in listed)
    listed_without_id = Counter((c.name, c.date_of_birth) for c in listed if c.person_id is None)
    matched: list[Child | None] = []
    linked: list[Child] = []
    for detail in listed:
        person = (detail.name, detail.date_of_birth)
        child = by_person.pop(detail.person_id, None) if detail.person_id is not None else None
        alike = listed_as if detail.person_id is not None else listed_without_id
        if child is None and alike[person] == 1 and len(without_id.get(person, ())) == 1:
            child = without_id.pop(person)[0]
            if detail.person_id is not None:
                linked.append(child)
        matched.append(child)
    return matched, linked


@dataclass
class _Copied:
    """What copying the CMS's children changed, in codes and counts for the audit trail."""

    changed: bool = False
    invalid: Counter[ChildIdentifier] = field(default_factory=Counter)
    delisted: int = 0  # children the CMS listed until now and no longer does

    def details(
        self, *, created: bool, moved: bool, team: Team, found: CmsCase
    ) -> dict[str, str | int | bool | None]:
        return {
            "created": created,
            "children": len(found.children),
            "team_changed": moved,
            "team_id": str(team.id),
            "children_without_person_id": sum(c.person_id is None for c in found.children),
            "invalid_nhs_numbers": self.invalid[ChildIdentifier.NHS_NUMBER],
            "invalid_upns": self.invalid[ChildIdentifier.UPN],
            "children_no_longer_listed": self.delisted,
        }


def copy_child(cipher: RecordCipher, child: Child, detail: CmsChild, copied: _Copied) -> bool:
    """Seal what the CMS holds about the child onto the portal's child, listed again if it
    was not: whether anything changed. An identifier that fails its check is not kept, so a
    child whose NHS number the CMS holds wrongly has none in the portal rather than a wrong
    one; its kind is noted on the child (for the worker to have it corrected) and counted."""
    changed = child.delisted_at is not None
    child.delisted_at = None
    if detail.person_id is not None and child.cms_person_id != detail.person_id:
        child.cms_person_id = detail.person_id
        changed = True
    checked, invalid = _checked(detail)
    copied.invalid.update(invalid)
    codes = [str(kind) for kind in invalid]
    if list(child.invalid_identifiers or ()) != codes:
        child.invalid_identifiers = codes
        changed = True
    wanted = {"name_enc": detail.name, "date_of_birth_enc": detail.date_of_birth} | {
        SEALED_COLUMN[kind]: value for kind, value in checked.items()
    }
    for column, value in wanted.items():
        if cipher.open_text(child, column) != value:
            cipher.seal_text(child, column, value)
            changed = True
    return changed


def _checked(
    detail: CmsChild,
) -> tuple[dict[ChildIdentifier, str | None], list[ChildIdentifier]]:
    """Each identifier in its canonical form (None where the CMS holds none or it fails its
    check), and those that fail their check."""
    held = {ChildIdentifier.NHS_NUMBER: detail.nhs_number, ChildIdentifier.UPN: detail.upn}
    checked: dict[ChildIdentifier, str | None] = {}
    invalid: list[ChildIdentifier] = []
    for kind, text in held.items():
        try:
            checked[kind] = None if text is None else canonical(kind, text)
        except InvalidIdentifier:
            checked[kind] = None
            invalid.append(kind)
    return checked, invalid
