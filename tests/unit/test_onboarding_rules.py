"""Unit tests for the onboarding rules: stage moves, the MFA decision, agreement dates and
e-mail domains, as pure functions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.models import OrganisationKind, OrganisationStage
from portal.onboarding.agreements import AgreementTerms, problems
from portal.onboarding.checklist import MFA_NOT_REQUIRED, MFA_REQUIRED, ProviderMfa, mfa_met
from portal.onboarding.organisations import parse_domains
from portal.onboarding.stages import (
    Move,
    MoveContext,
    PauseReason,
    StageRefused,
    check_move,
    moves_from,
)

S = OrganisationStage
SCHOOL = OrganisationKind.SCHOOL


def context(stage: OrganisationStage, **changes: object) -> MoveContext:
    return MoveContext(kind=SCHOOL, stage=stage, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("move", "start", "end"),
    [
        (Move.START_ONBOARDING, S.PROPOSED, S.ONBOARDING),
        (Move.GO_LIVE, S.ONBOARDING, S.LIVE),
        (Move.RESUME, S.PAUSED, S.LIVE),
        (Move.LEAVE, S.PROPOSED, S.LEFT),
        (Move.LEAVE, S.ONBOARDING, S.LEFT),
        (Move.LEAVE, S.LIVE, S.LEFT),
        (Move.LEAVE, S.PAUSED, S.LEFT),
    ],
)
def test_the_moves_the_stages_allow(
    move: Move, start: OrganisationStage, end: OrganisationStage
) -> None:
    assert check_move(move, context(start)) == end
    assert move in moves_from(start)


def test_pausing_needs_a_reason_code() -> None:
    with pytest.raises(StageRefused, match="Select why"):
        check_move(Move.PAUSE, context(S.LIVE))
    assert (
        check_move(Move.PAUSE, context(S.LIVE, pause_reason=PauseReason.AGREEMENT_REVIEW))
        == S.PAUSED
    )


@pytest.mark.parametrize("move", list(Move))
def test_nothing_moves_once_it_has_left(move: Move) -> None:
    assert moves_from(S.LEFT) == []
    with pytest.raises(StageRefused, match="left cannot"):
        check_move(move, context(S.LEFT, pause_reason=PauseReason.AGREEMENT_REVIEW))


@pytest.mark.parametrize(
    ("move", "start"),
    [
        (Move.GO_LIVE, S.PROPOSED),  # onboarding first
        (Move.START_ONBOARDING, S.LIVE),
        (Move.RESUME, S.LIVE),
        (Move.PAUSE, S.ONBOARDING),
        (Move.GO_LIVE, S.PAUSED),  # resume instead
    ],
)
def test_moves_from_the_wrong_stage_are_refused(move: Move, start: OrganisationStage) -> None:
    with pytest.raises(StageRefused):
        check_move(move, context(start, pause_reason=PauseReason.AGREEMENT_REVIEW))


@pytest.mark.parametrize(("move", "start"), [(Move.GO_LIVE, S.ONBOARDING), (Move.RESUME, S.PAUSED)])
def test_going_live_or_resuming_lists_what_is_missing(move: Move, start: OrganisationStage) -> None:
    missing = ["Information-sharing agreement in force", "Test sign-in"]
    with pytest.raises(StageRefused) as refused:
        check_move(move, context(start, missing=missing))
    assert "Still needed: information-sharing agreement in force; test sign-in." in str(
        refused.value
    )


@pytest.mark.parametrize(
    ("count", "words"), [(1, "1 request is still open"), (3, "3 requests are still open")]
)
def test_leaving_is_refused_while_requests_are_open(count: int, words: str) -> None:
    with pytest.raises(StageRefused, match=words):
        check_move(Move.LEAVE, context(S.LIVE, open_requests=count))


@pytest.mark.parametrize("move", list(Move))
def test_the_council_never_moves(move: Move) -> None:
    council = MoveContext(
        kind=OrganisationKind.COUNCIL, stage=S.LIVE, pause_reason=PauseReason.AGREEMENT_REVIEW
    )
    with pytest.raises(StageRefused, match="council"):
        check_move(move, council)


def test_the_mfa_decision_is_met_only_when_every_enabled_provider_demands_it() -> None:
    acr = ProviderMfa(["urn:mfa"], False)
    amr = ProviderMfa([], True)
    neither = ProviderMfa([], False)
    assert not mfa_met(None, [acr])
    assert mfa_met(MFA_REQUIRED, [acr, amr])
    assert not mfa_met(MFA_REQUIRED, [acr, neither])
    assert mfa_met(MFA_NOT_REQUIRED, [neither])


def test_an_agreement_is_reviewed_after_it_is_signed_and_not_in_the_past() -> None:
    today = date(2026, 12, 6)

    def terms(signed: date, review: date) -> AgreementTerms:
        return AgreementTerms("ISA", "1", signed, "Headteacher", review)

    assert problems(terms(today, today + timedelta(days=365)), today) == {}
    assert problems(terms(today - timedelta(days=400), today), today) == {}  # review is today
    assert "review_on" in problems(terms(today, today), today)
    assert "review_on" in problems(
        terms(today - timedelta(days=90), today - timedelta(days=1)), today
    )
    assert "signed_on" in problems(
        terms(today + timedelta(days=1), today + timedelta(days=9)), today
    )


def test_e_mail_domains_are_cleaned_and_checked() -> None:
    assert parse_domains(" @Ashby.sch.uk\nashby.sch.uk, staff.ashby.sch.uk ") == [
        "ashby.sch.uk",
        "staff.ashby.sch.uk",
    ]
    for wrong in ("localhost", "ashby..sch.uk", "-ashby.sch.uk", "ashby.sch.uk/", "a@b.uk"):
        with pytest.raises(ValueError, match="is not a domain name"):
            parse_domains(wrong)
