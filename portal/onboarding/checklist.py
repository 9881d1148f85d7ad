"""An organisation's onboarding checklist: six items, each with who met it and when.

Two items are recorded by hand (the DPIA's reference and the MFA decision, `ChecklistRecord`);
the others are read from their own records: the agreement, the partner lead's role, the
identity providers and their test sign-ins. So the checklist can never say an item is met
after what met it has gone (a provider disabled, a partner lead suspended).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.models import (
    ChecklistItem,
    ChecklistRecord,
    IdentityProvider,
    Organisation,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.models.base import utcnow
from portal.onboarding.intake import current_agreement
from portal.uk_time import long_date

MFA_REQUIRED = "required"
MFA_NOT_REQUIRED = "not_required"


class Item(enum.StrEnum):
    AGREEMENT = "agreement"
    DPIA = "dpia"
    PARTNER_LEAD = "partner_lead"
    IDENTITY_PROVIDER = "identity_provider"
    TEST_SIGN_IN = "test_sign_in"
    MFA_DECISION = "mfa_decision"

    @property
    def label(self) -> str:
        return _ITEM_LABELS[self]


_ITEM_LABELS = {
    Item.AGREEMENT: "Information-sharing agreement in force",
    Item.DPIA: "Data protection impact assessment",
    Item.PARTNER_LEAD: "Partner lead",
    Item.IDENTITY_PROVIDER: "Identity provider",
    Item.TEST_SIGN_IN: "Test sign-in",
    Item.MFA_DECISION: "MFA decision",
}


@dataclass(frozen=True)
class ItemState:
    item: Item
    done: bool
    summary: str  # what meets it, or what is missing, in a few words
    who: str | None = None
    when: datetime | None = None


@dataclass(frozen=True)
class Checklist:
    items: tuple[ItemState, ...]

    @property
    def done_count(self) -> int:
        return sum(state.done for state in self.items)

    @property
    def complete(self) -> bool:
        return self.done_count == len(self.items)

    @property
    def missing(self) -> list[str]:
        return [state.item.label for state in self.items if not state.done]


@dataclass(frozen=True)
class ProviderMfa:
    """What a provider demands at sign-in, for the MFA decision's rule."""

    required_acr_values: Sequence[str]
    require_strong_amr: bool


def mfa_met(decision: str | None, enabled: Iterable[ProviderMfa]) -> bool:
    """A decision is recorded and, if MFA is required, every enabled provider demands it."""
    if decision is None:
        return False
    if decision != MFA_REQUIRED:
        return True
    return all(p.required_acr_values or p.require_strong_amr for p in enabled)


def evaluate(session: Session, organisation: Organisation, today: date) -> Checklist:
    """The organisation's checklist as its records stand today."""
    records = {
        record.item: record
        for record in session.scalars(
            sa.select(ChecklistRecord).where(ChecklistRecord.organisation_id == organisation.id)
        )
    }
    providers = list(
        session.scalars(
            sa.select(IdentityProvider)
            .where(IdentityProvider.organisation_id == organisation.id, IdentityProvider.enabled)
            .order_by(IdentityProvider.display_name)
        )
    )
    return Checklist(
        (
            _agreement(session, organisation, today),
            _dpia(records.get(ChecklistItem.DPIA)),
            _partner_lead(session, organisation),
            _provider(providers),
            _test_sign_in(session, providers),
            _mfa(records.get(ChecklistItem.MFA_DECISION), providers),
        )
    )


def _agreement(session: Session, organisation: Organisation, today: date) -> ItemState:
    agreement = current_agreement(session, organisation.id)
    if agreement is None:
        return ItemState(Item.AGREEMENT, False, "Not recorded")
    who = agreement.recorded_by.display_name if agreement.recorded_by else None
    in_force = agreement.review_on >= today
    review = f"review by {long_date(agreement.review_on)}" if in_force else "past its review date"
    words = f"{agreement.name}, version {agreement.version}: {review}"
    return ItemState(Item.AGREEMENT, in_force, words, who, agreement.recorded_at)


def _dpia(record: ChecklistRecord | None) -> ItemState:
    if record is None:
        return ItemState(Item.DPIA, False, "Not recorded")
    return ItemState(
        Item.DPIA,
        True,
        f"Reference {record.value}",
        record.recorded_by.display_name,
        record.recorded_at,
    )


def _partner_lead(session: Session, organisation: Organisation) -> ItemState:
    lead = session.execute(
        sa.select(User.display_name, RoleAssignment.granted_at)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .where(
            User.organisation_id == organisation.id,
            User.status == UserStatus.ACTIVE,
            RoleAssignment.role == Role.PARTNER_LEAD,
        )
        .order_by(RoleAssignment.granted_at)
        .limit(1)
    ).first()
    if lead is None:
        return ItemState(Item.PARTNER_LEAD, False, "No active partner lead")
    return ItemState(Item.PARTNER_LEAD, True, lead.display_name, None, lead.granted_at)


def _provider(providers: list[IdentityProvider]) -> ItemState:
    if not providers:
        return ItemState(Item.IDENTITY_PROVIDER, False, "No enabled identity provider")
    first = min(providers, key=lambda provider: provider.trusted_since)
    names = ", ".join(provider.display_name for provider in providers)
    return ItemState(Item.IDENTITY_PROVIDER, True, names, None, first.trusted_since)


def _test_sign_in(session: Session, providers: list[IdentityProvider]) -> ItemState:
    tested = [provider for provider in providers if provider.tested_at is not None]
    if not tested:
        return ItemState(Item.TEST_SIGN_IN, False, "No successful sign-in yet")
    first = min(tested, key=lambda provider: provider.tested_at or utcnow())
    person = session.get(User, first.tested_by_id) if first.tested_by_id else None
    return ItemState(
        Item.TEST_SIGN_IN,
        True,
        f"Through {first.display_name}",
        person.display_name if person else None,
        first.tested_at,
    )


def _mfa(record: ChecklistRecord | None, providers: list[IdentityProvider]) -> ItemState:
    if record is None:
        return ItemState(Item.MFA_DECISION, False, "Not recorded")
    demands = [ProviderMfa(p.required_acr_values, p.require_strong_amr) for p in providers]
    met = mfa_met(record.value, demands)
    if record.value == MFA_REQUIRED:
        summary = "Required" if met else "Required, but not every identity provider demands it"
    else:
        summary = f"Not required: {record.reason}"
    return ItemState(
        Item.MFA_DECISION, met, summary, record.recorded_by.display_name, record.recorded_at
    )


def record_item(
    session: Session,
    organisation: Organisation,
    item: ChecklistItem,
    value: str,
    reason: str | None,
    *,
    recorder: User,
    actor: Actor,
) -> None:
    """Record (or replace) the DPIA reference or the MFA decision, audited. The reason is about
    the organisation's set-up, never a child; the trail keeps the value, not the reason."""
    record = session.get(ChecklistRecord, (organisation.id, item))
    previous = record.value if record else None
    if record is None:
        record = ChecklistRecord(organisation_id=organisation.id, item=item)
        session.add(record)
    record.value = value
    record.reason = reason
    record.recorded_by_id = recorder.id
    record.recorded_at = utcnow()
    details: dict[str, str | int | bool | None] = {
        "item": item.value,
        "replaced": previous is not None,
    }
    if item == ChecklistItem.MFA_DECISION:
        # Codes; a DPIA reference is the organisation's own text, kept off the trail.
        details |= {"value": value, "previous": previous}
    record_event(
        session,
        AuditAction.CHECKLIST_ITEM_RECORDED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details=details,
    )
    session.flush()
