"""The demo children's consistent identifiers, in one place for both seeds: the reference CMS's
(what the CMS holds) and the portal's demo copy of the same cases (portal/demo/seed.py).

Every value is fictional and passes its check (python-stdnum's `stdnum.gb.nhs` and
`stdnum.gb.upn`; tests/unit/test_demo_identifiers.py proves it):

- NHS numbers come from the range reserved for testing: numbers beginning 999 are never issued
  to anyone. Each is 999, the case number's last five digits, the child's number on the case
  and the modulus-11 check digit; where that child's number leaves no check digit (the
  remainder gives 10, so no NHS number starts that way) the child's number is raised by 5.
- UPNs are the modulus-23 check letter, local authority 801, the number of the school that
  first allocated it, the two-digit year it was allocated (the child's first school year), and
  a serial from the case number and the child's number.

Ruby Chen has no UPN: the CMS has not recorded one for her (she joined an English school
recently), so the demo shows the warning a social worker gets before asking a school about a
child the school can only match on name and date of birth.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoIdentifiers:
    nhs_number: str | None  # canonical: 10 digits
    upn: str | None  # canonical: 13 characters, capitals


# By CMS person id (reference_cms/seed.py DEMO_CASES).
DEMO_IDENTIFIERS: dict[str, DemoIdentifiers] = {
    "P-100234-1": DemoIdentifiers("9990023417", "H801210119341"),  # Amelia Hart
    "P-100234-2": DemoIdentifiers("9990023425", "V801210121342"),  # Oliver Hart
    "P-100871-1": DemoIdentifiers("9990087113", "T801210216711"),  # Leo Barnes
    "P-101402-1": DemoIdentifiers("9990140219", "B801330120021"),  # Maya Patel
    "P-101955-1": DemoIdentifiers("9990195560", "Z801210214551"),  # Noah Williams
    "P-101955-2": DemoIdentifiers("9990195528", "W801210217552"),  # Isla Williams
    "P-102310-1": DemoIdentifiers("9990231060", None),  # Ruby Chen: no UPN held
    "P-102788-1": DemoIdentifiers("9990278814", "R801210227881"),  # Jacob Kowalski
    # Zofia Kowalski (NCC-102788) has no person record in the CMS yet, and no identifiers.
}

NONE_HELD = DemoIdentifiers(None, None)


def demo_identifiers(person_id: str | None) -> DemoIdentifiers:
    """The demo child's identifiers; none for a child the table does not name (or with no
    person id at all, like the case that shows what happens then)."""
    return DEMO_IDENTIFIERS.get(person_id or "", NONE_HELD)
