"""The NHS number's and the UPN's checks: valid ones in their canonical form, every kind of
wrong one refused with a message that says why and never repeats the value."""

from __future__ import annotations

import pytest

from portal.cases.identifiers import (
    ChildIdentifier,
    InvalidIdentifier,
    canonical,
    nhs_number,
    shown,
    unique_pupil_number,
)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("9434765919", "9434765919"),
        ("943 476 5919", "9434765919"),  # as the NHS prints it
        (" 943-476-5919 ", "9434765919"),
        ("9990023417", "9990023417"),  # the range reserved for testing
    ],
)
def test_a_valid_nhs_number_is_kept_as_its_ten_digits(written: str, stored: str) -> None:
    assert nhs_number(written) == stored
    assert canonical(ChildIdentifier.NHS_NUMBER, written) == stored


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("9434765918", "check digit"),  # one digit wrong
        ("9434765991", "check digit"),  # two digits swapped
        ("943476591", "must be 10 digits"),
        ("94347659190", "must be 10 digits"),
        ("", "must be 10 digits"),
        ("943476591X", "only digits"),
        ("943 476 591", "must be 10 digits"),
        ("1000000010", "not a valid NHS number"),  # a remainder of 10: no check digit exists
    ],
)
def test_a_wrong_nhs_number_is_refused_saying_why(written: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        nhs_number(written)
    message = str(refused.value)
    assert why in message
    assert written.strip() == "" or written.replace(" ", "") not in message


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("H801210119341", "H801210119341"),
        ("h801210119341", "H801210119341"),  # capitals
        (" H801 2101 19341 ", "H801210119341"),
        ("B801200005001", "B801200005001"),
        # Dorset (838, made in 2019): not on python-stdnum's 2011 list of authorities, whose
        # UPNs are still real ones.
        ("G838210227881", "G838210227881"),
    ],
)
def test_a_valid_upn_is_kept_in_capitals(written: str, stored: str) -> None:
    assert unique_pupil_number(written) == stored
    assert canonical(ChildIdentifier.UPN, written) == stored


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("A801200005001", "first letter does not match"),  # check letter wrong
        ("B801200005010", "first letter does not match"),  # digits swapped
        ("B80120000500", "must be 13 characters"),
        ("B8012000050011", "must be 13 characters"),
        ("", "must be 13 characters"),
        ("B8012000050I1", "check letter followed by 11 digits"),
        ("A000200005001", "first letter does not match"),  # unknown authority, wrong letter
    ],
)
def test_a_wrong_upn_is_refused_saying_why(written: str, why: str) -> None:
    with pytest.raises(InvalidIdentifier) as refused:
        unique_pupil_number(written)
    message = str(refused.value)
    assert why in message
    assert not written or written not in message


def test_identifiers_are_shown_as_people_read_them() -> None:
    assert shown(ChildIdentifier.NHS_NUMBER, "9434765919") == "943 476 5919"
    assert shown(ChildIdentifier.UPN, "H801210119341") == "H801210119341"
    assert ChildIdentifier.NHS_NUMBER.label == "NHS number"
    assert ChildIdentifier.UPN.label == "UPN"
