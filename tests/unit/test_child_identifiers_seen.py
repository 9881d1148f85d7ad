"""Which of a child's identifiers each kind of organisation sees (portal.auth.policy), what a
partner may say it matched on, and reading the confirmation form: without a database."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from portal.auth.policy import child_identifiers_shown_to
from portal.cases.identifiers import ChildIdentifier
from portal.contributions.confirmations import (
    ChildOnRequest,
    Identifier,
    knows_none,
    read_confirmations,
)
from portal.models import ChildKnown, MatchedOn, OrganisationKind
from portal.settings import RequestSettings

NHS, UPN = ChildIdentifier.NHS_NUMBER, ChildIdentifier.UPN


@pytest.mark.parametrize(
    ("kind", "police_identifiers", "seen"),
    [
        (OrganisationKind.COUNCIL, (), {NHS, UPN}),
        (OrganisationKind.SCHOOL, (), {UPN}),
        (OrganisationKind.HEALTH, (), {NHS}),
        (OrganisationKind.POLICE, (), set()),
        (OrganisationKind.POLICE, (NHS,), {NHS}),
        (OrganisationKind.POLICE, (NHS, UPN), {NHS, UPN}),
        (OrganisationKind.OTHER, (), set()),
        # The police setting widens the police's view only.
        (OrganisationKind.SCHOOL, (NHS,), {UPN}),
        (OrganisationKind.HEALTH, (UPN,), {NHS}),
        (OrganisationKind.OTHER, (NHS, UPN), set()),
    ],
)
def test_each_kind_sees_only_its_identifier(
    kind: OrganisationKind, police_identifiers: tuple[ChildIdentifier, ...], seen: set[str]
) -> None:
    assert child_identifiers_shown_to(kind, police_identifiers) == seen


def test_every_kind_has_a_rule_and_the_police_see_none_by_default() -> None:
    for kind in OrganisationKind:
        assert child_identifiers_shown_to(kind) <= set(ChildIdentifier)
    assert RequestSettings().police_identifiers == []
    assert child_identifiers_shown_to(OrganisationKind.POLICE, ["nhs_number"]) == {NHS}


def child(*identifiers: ChildIdentifier, name: str = "Amelia Hart") -> ChildOnRequest:
    return ChildOnRequest(
        id="0b5f3a5e-0000-4000-8000-000000000001" if name == "Amelia Hart" else "other-id",
        name=name,
        date_of_birth="2015-03-14",
        identifiers=tuple(Identifier(kind, "x") for kind in identifiers),
        answer=None,
        matched_on=None,
    )


@pytest.mark.parametrize(
    ("identifiers", "offered"),
    [
        ((), [MatchedOn.NAME_AND_DATE_OF_BIRTH]),
        ((UPN,), [MatchedOn.UPN, MatchedOn.NAME_AND_DATE_OF_BIRTH]),
        ((NHS,), [MatchedOn.NHS_NUMBER, MatchedOn.NAME_AND_DATE_OF_BIRTH]),
        ((UPN, NHS), list(MatchedOn)),
    ],
)
def test_an_identifier_is_offered_to_match_on_only_when_it_is_shown(
    identifiers: tuple[ChildIdentifier, ...], offered: list[MatchedOn]
) -> None:
    assert list(child(*identifiers).matched_on_choices) == offered


def test_reading_the_form_keeps_what_was_matched_only_with_a_record() -> None:
    amelia = child(UPN)
    form = MultiDict({f"known-{amelia.id}": "known", f"matched-{amelia.id}": "upn"})
    assert read_confirmations(form, [amelia]) == (
        {amelia.id: (ChildKnown.KNOWN, MatchedOn.UPN)},
        {},
    )
    # "We do not know this child" with a match left ticked: the match is not kept.
    form = MultiDict({f"known-{amelia.id}": "not_known", f"matched-{amelia.id}": "upn"})
    choices, errors = read_confirmations(form, [amelia])
    assert (choices, errors) == ({amelia.id: (ChildKnown.NOT_KNOWN, None)}, {})
    assert knows_none(choices)


def test_one_error_and_nothing_is_chosen() -> None:
    amelia, oliver = child(), child(name="Oliver Hart")
    form = MultiDict({f"known-{amelia.id}": "known", f"matched-{amelia.id}": "upn"})
    choices, errors = read_confirmations(form, [amelia, oliver])
    assert choices == {}
    assert errors == {
        f"matched-{amelia.id}": "Select one of the ways shown for this child",  # no UPN shown
        "known-other-id": "Select whether you hold a record for Oliver Hart",
    }


def test_knowing_none_needs_an_answer_for_someone() -> None:
    assert not knows_none({})
    assert not knows_none(
        {"a": (ChildKnown.KNOWN, MatchedOn.UPN), "b": (ChildKnown.NOT_KNOWN, None)}
    )
    assert knows_none({"a": (ChildKnown.NOT_THIS_CHILD, None), "b": (ChildKnown.NOT_KNOWN, None)})
