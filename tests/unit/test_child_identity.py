"""What a social worker is shown of each child's identity before issuing a request, and the
warnings (portal/requests/child_identity.py), without a database."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from portal.cases.directory import ChildSummary
from portal.cases.identifiers import ChildIdentifier
from portal.models import Child, OrganisationKind
from portal.requests.child_identity import (
    NOT_HELD,
    NOT_VALID,
    ChosenPartner,
    before_issuing,
    chosen_partner,
    gaps_when_issued,
)

AMELIA = ChildSummary(
    uuid.uuid4(),
    "Amelia Hart",
    date(2015, 3, 14),
    cms_person_id="P-100234-1",
    nhs_number="9990023417",
    upn="H801210119341",
)
# No UPN and no person record in the CMS.
RUBY = ChildSummary(uuid.uuid4(), "Ruby Chen", date(2018, 8, 9), nhs_number="9990231060")
SCHOOL = ChosenPartner("Ashby Lane Primary School", OrganisationKind.SCHOOL)
HEALTH = ChosenPartner("Northmoor Community Health NHS Trust", OrganisationKind.HEALTH)
POLICE = ChosenPartner("Northmoor Constabulary", OrganisationKind.POLICE)


def test_every_identifier_is_shown_as_people_read_it_and_a_missing_one_is_named() -> None:
    shown = before_issuing([AMELIA, RUBY], [], None)
    amelia, ruby = ({h.label: h.shown for h in child.held} for child in shown.children)
    assert amelia == {
        "CMS person id": "P-100234-1",
        "NHS number": "999 002 3417",
        "UPN": "H801210119341",
    }
    assert ruby == {"CMS person id": None, "NHS number": "999 023 1060", "UPN": None}
    texts = [held.text for held in shown.children[1].held]
    assert texts == [NOT_HELD, "999 023 1060", NOT_HELD]
    assert NOT_HELD == "Not held in the case management system"


def test_a_child_with_no_person_record_is_warned_of_whoever_is_asked() -> None:
    for partner in (None, SCHOOL, HEALTH, POLICE):
        warnings = before_issuing([AMELIA, RUBY], [str(RUBY.id)], partner).warnings
        assert any("Ruby Chen has no person record" in text for text in warnings)
        assert not any("Amelia" in text for text in warnings)


@pytest.mark.parametrize(
    ("partner", "police_identifiers", "warned"),
    [
        (SCHOOL, (), True),  # a school matches on the UPN, which Ruby lacks
        (HEALTH, (), False),  # health matches on the NHS number, which she has
        (POLICE, (), False),  # police match on no identifier unless configured
        (POLICE, ("upn",), True),
        (POLICE, ("nhs_number",), False),
        (POLICE, ("nhs_number", "upn"), False),  # one of them is enough
        (ChosenPartner("Other", OrganisationKind.OTHER), (), False),
    ],
)
def test_the_partner_kind_decides_which_missing_identifier_is_warned_of(
    partner: ChosenPartner, police_identifiers: tuple[str, ...], warned: bool
) -> None:
    warnings = before_issuing([RUBY], [str(RUBY.id)], partner, police_identifiers).warnings
    name_only = [text for text in warnings if "only match the child on name" in text]
    assert bool(name_only) is warned
    if warned:
        assert name_only == [
            f"The case management system holds no UPN for Ruby Chen: {partner.name} can only "
            "match the child on name and date of birth."
        ]


# The CMS holds an NHS number for Ben that fails its check digit, and a valid UPN.
BEN = ChildSummary(
    uuid.uuid4(),
    "Ben Lane",
    date(2017, 7, 7),
    cms_person_id="P-900417-2",
    upn="H801210119341",
    invalid=frozenset({ChildIdentifier.NHS_NUMBER}),
)
BEN_NHS = (
    "The case management system holds an NHS number for Ben Lane that is not a valid NHS "
    "number. Correct it in the case management system"
)


def test_an_identifier_that_fails_its_check_is_shown_as_held_but_not_valid() -> None:
    [ben] = before_issuing([BEN], [], None).children
    assert {held.label: held.text for held in ben.held} == {
        "CMS person id": "P-900417-2",
        "NHS number": NOT_VALID,
        "UPN": "H801210119341",
    }
    assert NOT_VALID == "Held in the case management system but not valid: correct it there"


def test_an_identifier_failing_its_check_is_warned_of_and_what_it_means_for_the_partner() -> None:
    assert before_issuing([BEN], [], None).warnings == [f"{BEN_NHS}."]
    # A school matches on the UPN, which Ben has.
    assert before_issuing([BEN], [str(BEN.id)], SCHOOL).warnings == [f"{BEN_NHS}."]
    # Health matches on the NHS number: the wrong one leaves it name and date of birth only.
    assert before_issuing([BEN], [str(BEN.id)], HEALTH).warnings == [
        f"{BEN_NHS}: until then {HEALTH.name} can only match the child on name and date of birth."
    ]
    # The police matching on either still have the UPN.
    police_both = before_issuing([BEN], [str(BEN.id)], POLICE, ["nhs_number", "upn"])
    assert police_both.warnings == [f"{BEN_NHS}."]


def test_a_wrong_upn_and_no_nhs_number_warn_a_police_force_matching_on_both_once() -> None:
    bo = ChildSummary(
        uuid.uuid4(),
        "Bo Lane",
        date(2019, 2, 2),
        cms_person_id="P-3",
        invalid=frozenset({ChildIdentifier.UPN}),
    )
    warnings = before_issuing([bo], [str(bo.id)], POLICE, ["nhs_number", "upn"]).warnings
    assert warnings == [
        "The case management system holds a UPN for Bo Lane that is not a valid UPN. Correct "
        f"it in the case management system: until then {POLICE.name} can only match the child "
        "on name and date of birth."
    ]


def test_health_is_warned_of_a_child_without_an_nhs_number_but_not_of_one_with() -> None:
    noah = ChildSummary(uuid.uuid4(), "Noah Williams", date(2010, 1, 30), cms_person_id="P-1")
    shown = before_issuing([AMELIA, noah], [str(AMELIA.id), str(noah.id)], HEALTH)
    assert shown.warnings == [
        "The case management system holds no NHS number for Noah Williams: Northmoor "
        "Community Health NHS Trust can only match the child on name and date of birth."
    ]
    assert shown.partner_sees == ["NHS number"]


def test_only_the_chosen_children_are_warned_of_once_any_is_chosen() -> None:
    assert before_issuing([AMELIA, RUBY], [str(AMELIA.id)], SCHOOL).warnings == []
    # None chosen yet: every child on the case is considered.
    assert len(before_issuing([AMELIA, RUBY], [], SCHOOL).warnings) == 2


def test_what_the_partner_sees_follows_its_kind_and_what_is_held() -> None:
    both = [str(AMELIA.id), str(RUBY.id)]
    assert before_issuing([AMELIA, RUBY], both, SCHOOL).partner_sees == ["UPN"]
    assert before_issuing([RUBY], [str(RUBY.id)], SCHOOL).partner_sees == []
    assert before_issuing([AMELIA], [str(AMELIA.id)], POLICE).partner_sees == []
    police_both = before_issuing([AMELIA], [str(AMELIA.id)], POLICE, ["upn", "nhs_number"])
    assert police_both.partner_sees == ["NHS number", "UPN"]


def test_the_partner_comes_from_the_listed_organisations_only() -> None:
    class Listed:
        def __init__(self, kind: OrganisationKind) -> None:
            self.id = uuid.uuid4()
            self.name = f"A {kind.value}"
            self.kind = kind

    school = Listed(OrganisationKind.SCHOOL)
    assert chosen_partner([school], str(school.id)) == ChosenPartner(
        "A school", OrganisationKind.SCHOOL
    )
    assert chosen_partner([school], str(uuid.uuid4())) is None
    assert chosen_partner([school], None) is None


def test_the_gaps_recorded_on_issue_are_counts_read_without_opening_anything() -> None:
    held = Child(cms_person_id="P-1", nhs_number_enc=b"sealed", upn_enc=b"sealed")
    bare = Child(cms_person_id=None, nhs_number_enc=None, upn_enc=None)
    nhs_only = Child(cms_person_id="P-2", nhs_number_enc=b"sealed", upn_enc=None)
    children = [held, bare, nhs_only]
    assert gaps_when_issued(children, OrganisationKind.SCHOOL) == {
        "children_without_cms_person_id": 1,
        "children_matched_by_name_only": 2,
    }
    assert gaps_when_issued(children, OrganisationKind.HEALTH) == {
        "children_without_cms_person_id": 1,
        "children_matched_by_name_only": 1,
    }
    assert gaps_when_issued(children, OrganisationKind.POLICE)["children_matched_by_name_only"] == 0
    assert (
        gaps_when_issued(children, OrganisationKind.POLICE, ["upn"])[
            "children_matched_by_name_only"
        ]
        == 2
    )
