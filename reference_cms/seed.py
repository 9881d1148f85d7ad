"""The demo's fictional cases, loaded into the reference CMS when it starts.

The children's NHS numbers and UPNs are in reference_cms/demo_identifiers.py, shared with the
portal's demo copy of the same cases: fictional, from the NHS number range reserved for testing,
each passing its check as the portal checks them. One case (NCC-102788) has a child the CMS has
made no person record for yet, and who has neither identifier: what the portal does with a
child it cannot name to the CMS.
"""

from __future__ import annotations

from reference_cms.demo_identifiers import demo_identifiers
from reference_cms.store import Case, CaseStore, Child

TEAM = "Children in Need Team East"
CASE_WITHOUT_PERSON_ID = "NCC-102788"


def _child(person_id: str, name: str, born: str) -> Child:
    held = demo_identifiers(person_id)
    return Child(person_id, name, born, nhs_number=held.nhs_number, upn=held.upn)


DEMO_CASES = (
    Case(
        "NCC-100234",
        TEAM,
        (
            _child("P-100234-1", "Amelia Hart", "2015-03-14"),
            _child("P-100234-2", "Oliver Hart", "2017-09-02"),
        ),
    ),
    Case("NCC-100871", TEAM, (_child("P-100871-1", "Leo Barnes", "2012-11-23"),)),
    Case("NCC-101402", TEAM, (_child("P-101402-1", "Maya Patel", "2016-06-05"),)),
    Case(
        "NCC-101955",
        TEAM,
        (
            _child("P-101955-1", "Noah Williams", "2010-01-30"),
            _child("P-101955-2", "Isla Williams", "2013-04-18"),
        ),
    ),
    # No UPN held: the warning before asking a school about her.
    Case("NCC-102310", TEAM, (_child("P-102310-1", "Ruby Chen", "2018-08-09"),)),
    Case(
        CASE_WITHOUT_PERSON_ID,
        TEAM,
        (
            _child("P-102788-1", "Jacob Kowalski", "2014-02-11"),
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
