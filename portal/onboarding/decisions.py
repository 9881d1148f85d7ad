"""Deciding a change that widens who can act for a partner: approving it (and so applying it,
exactly once), refusing it with a reason, or its proposer withdrawing it.

Approval re-checks who may decide and whether what the change replaces is still as it was
when proposed (`based_on`): if not, the change is superseded and nothing is applied.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.oidc.provider_spec import RegistryError
from portal.crypto.records import RecordCipher
from portal.models import ChangeStatus, Organisation, OrganisationChange, User
from portal.models.base import utcnow
from portal.onboarding import change_effects
from portal.onboarding.changes import (
    ChangeRefused,
    closed_to_changes,
    details_of,
    refusal_to_decide,
)

REASON_LIMIT = 500


def approve(
    session: Session, cipher: RecordCipher, change: OrganisationChange, approver: User
) -> ChangeStatus:
    """Approve and apply `change` (APPROVED), or find that what it would change has changed
    since it was proposed (SUPERSEDED: nothing applied, it must be proposed again).
    ChangeRefused if `approver` may not, or it was already decided."""
    _check_may_decide(approver, change)
    _lock_organisation(session, change)
    closed = closed_to_changes(change.organisation)
    if closed is not None:
        raise ChangeRefused(f"{closed}. Refuse this change instead")
    try:
        with session.begin_nested():  # undone alone, if the registry refuses it now
            return _claim_and_apply(session, cipher, change, approver)
    except RegistryError as error:
        # What was checked when it was proposed no longer holds (another provider took its
        # issuer, say): nothing is applied, and the change stays pending to be refused.
        raise ChangeRefused(
            f"It cannot be applied as it stands: {str(error).removesuffix('.')}. Refuse it, "
            "and propose it again once that is put right"
        ) from error


def _claim_and_apply(
    session: Session, cipher: RecordCipher, change: OrganisationChange, approver: User
) -> ChangeStatus:
    if not _claim(session, change, ChangeStatus.APPROVED, approver):
        raise ChangeRefused(already_decided(change))
    state = change_effects.current_state(
        session, change.organisation, change.kind, change_effects.key_of(change)
    )
    if change_effects.state_digest(state) != change.based_on:
        change.status = ChangeStatus.SUPERSEDED
        change.client_secret_enc = None
        record_event(
            session,
            AuditAction.CHANGE_SUPERSEDED,
            actor=actor_for(approver),
            object_type="organisation_change",
            object_id=change.id,
            details=details_of(change),
        )
        return ChangeStatus.SUPERSEDED
    change_effects.apply(session, cipher, change, actor=actor_for(approver))
    record_event(
        session,
        AuditAction.CHANGE_APPROVED,
        actor=actor_for(approver),
        object_type="organisation_change",
        object_id=change.id,
        details=details_of(change, proposed_by_id=str(change.proposed_by_id)),
    )
    return ChangeStatus.APPROVED


def refuse(session: Session, change: OrganisationChange, decider: User, reason: str) -> None:
    """Refuse `change`, saying why (about the organisation's set-up: never about a child)."""
    _check_may_decide(decider, change)
    reason = " ".join(reason.split())
    if not reason:
        raise ChangeRefused("Enter why you are refusing this change")
    if len(reason) > REASON_LIMIT:
        raise ChangeRefused(f"Why you are refusing it must be {REASON_LIMIT} characters or fewer")
    _close(session, change, ChangeStatus.REFUSED, decider, refusal_reason=reason)


def withdraw(session: Session, change: OrganisationChange, person: User) -> None:
    """The proposer takes their change back before anyone decides it."""
    if change.proposed_by_id != person.id:
        raise ChangeRefused("Only the person who proposed a change can withdraw it")
    _close(session, change, ChangeStatus.WITHDRAWN, person)


_CLOSED_BY = {
    ChangeStatus.REFUSED: AuditAction.CHANGE_REFUSED,
    ChangeStatus.WITHDRAWN: AuditAction.CHANGE_WITHDRAWN,
}


def _close(
    session: Session,
    change: OrganisationChange,
    status: ChangeStatus,
    person: User,
    refusal_reason: str | None = None,
) -> None:
    """End `change` unapplied (refused or withdrawn), once, its sealed secret dropped, audited."""
    if not _claim(session, change, status, person, refusal_reason=refusal_reason):
        raise ChangeRefused(already_decided(change))
    change.client_secret_enc = None
    record_event(
        session,
        _CLOSED_BY[status],
        actor=actor_for(person),
        object_type="organisation_change",
        object_id=change.id,
        details=details_of(change),
    )


def already_decided(change: OrganisationChange) -> str:
    return f"This change was already {change.status.value}: nothing more was done"


def _check_may_decide(person: User, change: OrganisationChange) -> None:
    reason = refusal_to_decide(person, change)
    if reason is not None:
        raise ChangeRefused(reason)


def _lock_organisation(session: Session, change: OrganisationChange) -> None:
    """One decision at a time per organisation: two approvals of changes to the same thing
    would otherwise both find it as proposed and the second overwrite the first. The row the
    change writes is locked too, against a narrowing made at the same moment. Then read
    everything afresh, as the decision before this one (or that narrowing) left it."""
    session.flush()
    session.execute(
        sa.select(Organisation.id)
        .where(Organisation.id == change.organisation_id)
        .with_for_update()
    )
    change_effects.lock_target(session, change)
    session.expire_all()


def _claim(
    session: Session,
    change: OrganisationChange,
    status: ChangeStatus,
    decider: User,
    *,
    refusal_reason: str | None = None,
) -> bool:
    """Move `change` from pending to `status` in one conditional UPDATE: of two requests
    deciding it at once, exactly one does (the other waits for the row, then finds it
    decided). Whether this one did."""
    result = session.execute(
        sa.update(OrganisationChange)
        .where(
            OrganisationChange.id == change.id,
            OrganisationChange.status == ChangeStatus.PENDING,
        )
        .values(
            status=status,
            decided_by_id=decider.id,
            decided_at=utcnow(),
            refusal_reason=refusal_reason,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(change)
    return bool(getattr(result, "rowcount", 0) == 1)
