"""An organisation's way through the pilot: proposed → onboarding → live → paused → left.

The rules are pure functions (`check_move`) so that tests can call them directly; `move` applies
a move that they allow, in the caller's transaction, with its audit event. A move is an UPDATE
conditional on the stage it moves from: two people moving the same organisation at once, or a
double-click, apply it once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.auth.sessions import end_sessions
from portal.models import Organisation, OrganisationKind, OrganisationStage, User
from portal.models.base import utcnow

_S = OrganisationStage


class Move(enum.StrEnum):
    START_ONBOARDING = "start_onboarding"
    GO_LIVE = "go_live"
    PAUSE = "pause"
    RESUME = "resume"
    LEAVE = "leave"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Move.START_ONBOARDING: "Start onboarding",
    Move.GO_LIVE: "Go live",
    Move.PAUSE: "Pause",
    Move.RESUME: "Resume",
    Move.LEAVE: "Leave the pilot",
}

# Where each move may start, and where it ends.
MOVES: dict[Move, tuple[frozenset[OrganisationStage], OrganisationStage]] = {
    Move.START_ONBOARDING: (frozenset({_S.PROPOSED}), _S.ONBOARDING),
    Move.GO_LIVE: (frozenset({_S.ONBOARDING}), _S.LIVE),
    Move.PAUSE: (frozenset({_S.LIVE}), _S.PAUSED),
    Move.RESUME: (frozenset({_S.PAUSED}), _S.LIVE),
    Move.LEAVE: (frozenset({_S.PROPOSED, _S.ONBOARDING, _S.LIVE, _S.PAUSED}), _S.LEFT),
}


class PauseReason(enum.StrEnum):
    """Why an organisation was paused: a code from a closed list, never free text."""

    AGREEMENT_REVIEW = "agreement_review"
    ORGANISATION_ASKED = "organisation_asked"
    SIGN_IN_PROBLEM = "sign_in_problem"
    GOVERNANCE_CONCERN = "governance_concern"

    @property
    def label(self) -> str:
        return _PAUSE_LABELS[self]


_PAUSE_LABELS = {
    PauseReason.AGREEMENT_REVIEW: "The information-sharing agreement is being reviewed",
    PauseReason.ORGANISATION_ASKED: "The organisation asked to pause",
    PauseReason.SIGN_IN_PROBLEM: "A problem with how its people sign in",
    PauseReason.GOVERNANCE_CONCERN: "An information governance concern",
}


class StageRefused(Exception):
    """Why a move is not allowed, in words for the page."""


@dataclass(frozen=True)
class MoveContext:
    """What the rules need to know about the organisation, gathered by the caller."""

    kind: OrganisationKind
    stage: OrganisationStage
    missing: Sequence[str] = ()  # the checklist items not yet met, by their names
    open_requests: int = 0
    pause_reason: PauseReason | None = None


def moves_from(stage: OrganisationStage) -> list[Move]:
    """The moves offered from `stage`, in the order the page shows them."""
    return [move for move, (starts, _) in MOVES.items() if stage in starts]


def check_move(move: Move, context: MoveContext) -> OrganisationStage:
    """The stage `move` takes the organisation to; StageRefused says why it may not."""
    if context.kind == OrganisationKind.COUNCIL:
        raise StageRefused("The council is always live: it cannot be moved.")
    starts, ends = MOVES[move]
    if context.stage not in starts:
        raise StageRefused(f"An organisation that is {context.stage.value} cannot {_verb(move)}.")
    if move in (Move.GO_LIVE, Move.RESUME) and context.missing:
        raise StageRefused(
            f"It cannot {_verb(move)} until its checklist is complete. Still needed: "
            + "; ".join(item[:1].lower() + item[1:] for item in context.missing)
            + "."
        )
    if move == Move.PAUSE and context.pause_reason is None:
        raise StageRefused("Select why it is being paused")
    if move == Move.LEAVE and context.open_requests:
        count = context.open_requests
        raise StageRefused(
            f"It cannot leave while {count} request{'s are' if count != 1 else ' is'} still "
            "open. Ask the social workers to withdraw them or wait for answers."
        )
    return ends


def _verb(move: Move) -> str:
    return {
        Move.START_ONBOARDING: "start onboarding",
        Move.GO_LIVE: "go live",
        Move.PAUSE: "be paused",
        Move.RESUME: "resume",
        Move.LEAVE: "leave the pilot",
    }[move]


def move(
    session: Session,
    organisation: Organisation,
    chosen: Move,
    context: MoveContext,
    *,
    actor: Actor,
    recount: Callable[[], int] | None = None,
) -> int:
    """Apply `chosen` if the rules allow it (StageRefused otherwise, and nothing changed),
    audited. Leaving ends every session of the organisation's people: returns how many ended.

    `recount` counts the open requests again once the organisation's row is locked: a request
    issued while it was leaving (which locks the row to read its stage) is then seen, and the
    move is refused."""
    target = check_move(chosen, context)
    _move_once(session, organisation, chosen, context, target, recount)
    session.refresh(organisation)
    ended = _end_sessions(session, organisation) if target == _S.LEFT else 0
    details: dict[str, str | int | None] = {
        "stage": target.value,
        "previous_stage": context.stage.value,
        "move": chosen.value,
    }
    if context.pause_reason is not None:
        details["reason"] = context.pause_reason.value
    if target == _S.LEFT:
        details["sessions_ended"] = ended
    record_event(
        session,
        AuditAction.ORGANISATION_STAGE_CHANGED,
        actor=actor,
        object_type="organisation",
        object_id=organisation.id,
        details=details,
    )
    return ended


def _move_once(
    session: Session,
    organisation: Organisation,
    chosen: Move,
    context: MoveContext,
    target: OrganisationStage,
    recount: Callable[[], int] | None,
) -> None:
    """The UPDATE conditional on the stage it moves from, undone if leaving finds requests
    opened meanwhile (StageRefused either way)."""
    with session.begin_nested():
        moved = session.execute(
            sa.update(Organisation)
            .where(Organisation.id == organisation.id, Organisation.stage == context.stage)
            .values(stage=target, stage_changed_at=utcnow())
            .returning(Organisation.id)
            .execution_options(synchronize_session=False)
        ).first()
        if moved is None:
            raise StageRefused(
                "Someone else changed its stage a moment ago: check it and try again."
            )
        if target == _S.LEFT and recount is not None:
            check_move(chosen, replace(context, open_requests=recount()))


def _end_sessions(session: Session, organisation: Organisation) -> int:
    """End every session of the organisation's people; how many ended."""
    people = session.scalars(sa.select(User.id).where(User.organisation_id == organisation.id))
    return sum(end_sessions(session, user_id=user_id) for user_id in people.all())
