"""What a social worker sees of each child's identity before issuing a request: every
identifier the CMS holds for the child (council staff may see them all), and warnings when a
child cannot be filed in the CMS or cannot be matched by the chosen partner on an identifier.

Warnings, never refusals: a child with no person record in the CMS, or no UPN for a school to
match on, still needs the partner's help; the social worker decides knowing the gap. An
identifier the CMS holds that fails its check is shown as such (never its value), so that the
worker has it corrected there rather than believing the CMS holds none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from portal.auth.policy import child_identifiers_shown_to
from portal.cases.directory import ChildSummary
from portal.cases.identifiers import SEALED_COLUMN, ChildIdentifier, shown
from portal.models import Child, OrganisationKind

NOT_HELD = "Not held in the case management system"
NOT_VALID = "Held in the case management system but not valid: correct it there"
CMS_PERSON_ID = "CMS person id"
NAME_ONLY = "can only match the child on name and date of birth."


@dataclass(frozen=True)
class IdentifierHeld:
    label: str
    shown: str | None  # as people read it from their own systems; None: the CMS holds none
    invalid: bool = False  # the CMS holds one that fails its check (never shown)

    @property
    def text(self) -> str:
        return self.shown or (NOT_VALID if self.invalid else NOT_HELD)


@dataclass(frozen=True)
class ChildIdentity:
    id: uuid.UUID
    name: str
    date_of_birth: date
    held: tuple[IdentifierHeld, ...]


class PartnerOrganisation(Protocol):
    """What matching a child needs to know of an organisation (the route modules hold the
    organisations they list without naming the data model)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> OrganisationKind: ...


@dataclass(frozen=True)
class ChosenPartner:
    """The organisation the request goes to, as far as matching its children goes."""

    name: str
    kind: OrganisationKind


def chosen_partner(
    organisations: Iterable[PartnerOrganisation], chosen_id: str | None
) -> ChosenPartner | None:
    """The listed organisation the form names, if any: its kind comes from the portal's own
    record of it, never from anything the browser sent."""
    for organisation in organisations:
        if str(organisation.id) == chosen_id:
            return ChosenPartner(organisation.name, organisation.kind)
    return None


@dataclass(frozen=True)
class BeforeIssuing:
    """What the new-request and check pages show about the children's identity."""

    children: list[ChildIdentity]  # every child on the case, with what the CMS holds
    warnings: list[str]  # about the children the request names, safe to show the worker
    # The identifiers the partner will see for at least one of those children (data
    # minimisation per organisation kind: portal.auth.policy.child_identifiers_shown_to).
    partner_sees: list[str]


def _held(child: ChildSummary) -> dict[ChildIdentifier, str]:
    values = {ChildIdentifier.NHS_NUMBER: child.nhs_number, ChildIdentifier.UPN: child.upn}
    return {identifier: value for identifier, value in values.items() if value}


def identity_of(child: ChildSummary) -> ChildIdentity:
    held = _held(child)
    return ChildIdentity(
        id=child.id,
        name=child.name,
        date_of_birth=child.date_of_birth,
        held=(
            IdentifierHeld(CMS_PERSON_ID, child.cms_person_id or None),
            *(
                IdentifierHeld(
                    identifier.label,
                    shown(identifier, held[identifier]) if identifier in held else None,
                    invalid=identifier in child.invalid,
                )
                # Whatever the policy lets council staff see: today every identifier.
                for identifier in _ordered(child_identifiers_shown_to(OrganisationKind.COUNCIL))
            ),
        ),
    )


def _ordered(identifiers: Iterable[ChildIdentifier]) -> list[ChildIdentifier]:
    return [identifier for identifier in ChildIdentifier if identifier in set(identifiers)]


def warnings_for(
    child: ChildSummary, partner: ChosenPartner | None, matched_on: frozenset[ChildIdentifier]
) -> list[str]:
    """Why answers about this child may not reach the right record, in the worker's words."""
    found = []
    if not child.cms_person_id:
        found.append(
            f"{child.name} has no person record in the case management system. You can still "
            "send the request, but the answers cannot be filed in the case management system "
            "until the child has one: delivery of the answers will stop and an administrator "
            "will be told."
        )
    name_only = partner if matched_on and not matched_on & _held(child).keys() else None
    for identifier in _ordered(child.invalid):
        found.append(_not_valid(child, identifier, name_only if identifier in matched_on else None))
    if name_only is not None and not matched_on & child.invalid:
        wanted = " or ".join(identifier.label for identifier in _ordered(matched_on))
        found.append(
            f"The case management system holds no {wanted} for {child.name}: "
            f"{name_only.name} {NAME_ONLY}"
        )
    return found


def _not_valid(
    child: ChildSummary, identifier: ChildIdentifier, name_only: ChosenPartner | None
) -> str:
    """The CMS holds an identifier for the child that fails its check (its value is never
    repeated); `name_only` is the partner left to match on name and date of birth, if any."""
    text = (
        f"The case management system holds {identifier.a_label} for {child.name} that is not "
        f"a valid {identifier.label}. Correct it in the case management system"
    )
    return f"{text}: until then {name_only.name} {NAME_ONLY}" if name_only else f"{text}."


def before_issuing(
    children: Sequence[ChildSummary],
    chosen_ids: Iterable[str],
    partner: ChosenPartner | None,
    police_identifiers: Iterable[str] = (),
) -> BeforeIssuing:
    """The children's identities, and the warnings about the chosen ones (every child on the
    case while none is chosen yet) for the chosen partner, if any."""
    chosen = set(chosen_ids)
    named = [child for child in children if str(child.id) in chosen] or list(children)
    matched_on = (
        child_identifiers_shown_to(partner.kind, police_identifiers)
        if partner is not None
        else frozenset()
    )
    held = {identifier for child in named for identifier in _held(child)}
    return BeforeIssuing(
        children=[identity_of(child) for child in children],
        warnings=[text for child in named for text in warnings_for(child, partner, matched_on)],
        partner_sees=[identifier.label for identifier in _ordered(matched_on & held)],
    )


def gaps_when_issued(
    children: Iterable[Child],
    kind: OrganisationKind,
    police_identifiers: Iterable[str] = (),
) -> dict[str, int]:
    """How many of the children the request names had each gap the worker was warned of, for
    the sharing decision's audit event (counts only: never an identifier, never a name).
    Presence is read from the sealed columns without opening them."""
    matched_on = child_identifiers_shown_to(kind, police_identifiers)
    without_person_id = name_only = 0
    for child in children:
        held = {
            kind for kind, column in SEALED_COLUMN.items() if getattr(child, column) is not None
        }
        without_person_id += not child.cms_person_id
        name_only += bool(matched_on) and not matched_on & held
    return {
        "children_without_cms_person_id": without_person_id,
        "children_matched_by_name_only": name_only,
    }
