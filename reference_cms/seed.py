"""The demo's fictional cases, loaded into the reference CMS when it starts.

The children's NHS numbers are from the range reserved for testing (numbers beginning 999 are
never issued to anyone), with their modulus-11 check digit; their UPNs carry a real English
local authority's number (873, Cambridgeshire) and a valid check letter. Both are computed
with python-stdnum, as the portal checks them. One case (NCC-102788) has a child the CMS has
made no person record for yet, and who has neither identifier: what the portal does with a
child it cannot name to the CMS.
"""

from __future__ import annotations

from stdnum.gb import nhs, upn

from reference_cms.store import Case, CaseStore, Child

TEAM = "Children in Need Team East"
LOCAL_AUTHORITY = "873"
SCHOOL = "2001"  # a made-up establishment number
CASE_WITHOUT_PERSON_ID = "NCC-102788"


def nhs_number_for_testing(serial: int) -> str:
    """An NHS number from the test range (999 …) with a valid check digit: the first one at
    or after `serial` (some nine-digit stems have no valid check digit)."""
    for stem in range(999_000_000 + serial, 999_000_000 + serial + 20):
        for digit in "0123456789":
            if nhs.is_valid(f"{stem}{digit}"):
                return f"{stem}{digit}"
    raise ValueError(f"no NHS number near serial {serial}")  # pragma: no cover


def pupil_number(year: str, serial: str) -> str:
    """A UPN: check letter, local authority, school, year of allocation, serial."""
    rest = f"{LOCAL_AUTHORITY}{SCHOOL}{year}{serial}"
    number = f"{upn.calc_check_digit(rest)}{rest}"
    return str(upn.validate(number))


def _child(person_id: str, name: str, born: str, serial: int, *, pupil: bool = True) -> Child:
    """A child with an NHS number and, unless not in a state school, a UPN."""
    return Child(
        person_id,
        name,
        born,
        nhs_number=nhs_number_for_testing(serial),
        upn=pupil_number(born[2:4], f"{serial:03d}") if pupil else None,
    )


DEMO_CASES = (
    Case(
        "NCC-100234",
        TEAM,
        (
            _child("P-100234-1", "Amelia Hart", "2015-03-14", 101),
            _child("P-100234-2", "Oliver Hart", "2017-09-02", 102),
        ),
    ),
    Case("NCC-100871", TEAM, (_child("P-100871-1", "Leo Barnes", "2012-11-23", 111),)),
    Case("NCC-101402", TEAM, (_child("P-101402-1", "Maya Patel", "2016-06-05", 121),)),
    Case(
        "NCC-101955",
        TEAM,
        (
            _child("P-101955-1", "Noah Williams", "2010-01-30", 131),
            _child("P-101955-2", "Isla Williams", "2013-04-18", 132),
        ),
    ),
    # Educated at home: an NHS number but no UPN.
    Case("NCC-102310", TEAM, (_child("P-102310-1", "Ruby Chen", "2018-08-09", 141, pupil=False),)),
    Case(
        CASE_WITHOUT_PERSON_ID,
        TEAM,
        (
            _child("P-102788-1", "Jacob Kowalski", "2014-02-11", 151),
            Child(None, "Zofia Kowalski", "2024-12-03"),  # no person record, no identifiers
        ),
    ),
)


def seed_demo_cases(store: CaseStore) -> bool:
    """Add each demo case the store does not hold yet (a CMS from before a case was added to
    the demo gains it); say whether any was added."""
    added = False
    for case in DEMO_CASES:
        if store.find_case(case.reference) is None:
            store.add_case(case)
            added = True
    return added
