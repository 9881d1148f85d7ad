"""The demo's fictional cases, loaded into an empty reference CMS on first start."""

from __future__ import annotations

from reference_cms.store import Case, CaseStore, Child

TEAM = "Children in Need Team East"

DEMO_CASES = (
    Case(
        "NCC-100234",
        TEAM,
        (
            Child("P-100234-1", "Amelia Hart", "2015-03-14"),
            Child("P-100234-2", "Oliver Hart", "2017-09-02"),
        ),
    ),
    Case("NCC-100871", TEAM, (Child("P-100871-1", "Leo Barnes", "2012-11-23"),)),
    Case("NCC-101402", TEAM, (Child("P-101402-1", "Maya Patel", "2016-06-05"),)),
    Case(
        "NCC-101955",
        TEAM,
        (
            Child("P-101955-1", "Noah Williams", "2010-01-30"),
            Child("P-101955-2", "Isla Williams", "2013-04-18"),
        ),
    ),
    Case("NCC-102310", TEAM, (Child("P-102310-1", "Ruby Chen", "2018-08-09"),)),
)


def seed_demo_cases(store: CaseStore) -> bool:
    """Load the demo cases unless the store already holds cases; say whether it loaded them."""
    if store.has_cases():
        return False
    for case in DEMO_CASES:
        store.add_case(case)
    return True
