"""The demo children's identifiers (reference_cms/demo_identifiers.py) are valid, from the
range reserved for testing, and each names one child."""

from __future__ import annotations

from stdnum.gb import nhs, upn

from reference_cms.demo_identifiers import DEMO_IDENTIFIERS, NONE_HELD, demo_identifiers
from reference_cms.seed import DEMO_CASES


def test_every_nhs_number_is_a_valid_test_number_and_every_upn_is_from_la_801() -> None:
    for identifiers in DEMO_IDENTIFIERS.values():
        assert identifiers.nhs_number is not None
        assert nhs.is_valid(identifiers.nhs_number)
        assert identifiers.nhs_number.startswith("999")  # never issued to anyone
        if identifiers.upn is not None:
            assert upn.is_valid(identifiers.upn) and identifiers.upn[1:4] == "801"
            assert identifiers.upn == identifiers.upn.upper()


def test_each_identifier_names_one_child_and_every_demo_child_is_covered() -> None:
    numbers = [i.nhs_number for i in DEMO_IDENTIFIERS.values()]
    pupils = [i.upn for i in DEMO_IDENTIFIERS.values() if i.upn]
    assert len(set(numbers)) == len(numbers) and len(set(pupils)) == len(pupils)
    person_ids = {child.person_id for case in DEMO_CASES for child in case.children}
    assert set(DEMO_IDENTIFIERS) <= person_ids
    assert {p for p in person_ids if p} <= set(DEMO_IDENTIFIERS)


def test_one_child_has_no_upn_to_show_the_warning_and_the_unknown_have_nothing() -> None:
    assert [pid for pid, i in DEMO_IDENTIFIERS.items() if i.upn is None] == ["P-102310-1"]
    assert demo_identifiers(None) == NONE_HELD == demo_identifiers("P-999999-9")
