"""Which of the portal's children a child the CMS lists is (portal/cases/directory.py
matched_children): the same person id; without one, the same name and date of birth when
exactly one child on each side has them; a child the CMS has now given a person id linked to
the portal's id-less child the same way. Anything less certain is a new child, never a guess.
A CMS answer naming one person twice is not believed (believable)."""

from __future__ import annotations

import uuid

import pytest

from portal.cases.directory import HeldChild, believable, matched_children
from portal.connector.adapter import CmsCase, CmsChild, CmsFailure
from portal.models import Child

ZOFIA = ("Zofia Kowalski", "2024-12-03")


def held(person_id: str | None, name: str, born: str) -> HeldChild:
    return HeldChild(Child(id=uuid.uuid4(), cms_person_id=person_id), name, born)


def listed(person_id: str | None, name: str, born: str) -> CmsChild:
    return CmsChild(person_id, name, born)


def test_a_person_id_decides_even_when_the_name_changed() -> None:
    amelia = held("P-1", "Amelia Hart", "2015-03-14")

    matched, linked = matched_children([amelia], (listed("P-1", "Amelia Hartley", "2015-03-14"),))

    assert (matched, linked) == ([amelia.child], [])


def test_an_id_less_child_is_the_same_child_at_the_next_lookup() -> None:
    zofia = held(None, *ZOFIA)

    matched, linked = matched_children([zofia], (listed(None, *ZOFIA),))

    assert (matched, linked) == ([zofia.child], [])


def test_id_less_twins_with_one_name_and_birthday_are_new_children() -> None:
    first, second = held(None, *ZOFIA), held(None, *ZOFIA)

    matched, _ = matched_children([first, second], (listed(None, *ZOFIA), listed(None, *ZOFIA)))

    assert matched == [None, None]


def test_an_id_less_child_is_linked_to_the_person_id_the_cms_made() -> None:
    jacob, zofia = held("P-1", "Jacob Kowalski", "2014-02-11"), held(None, *ZOFIA)

    matched, linked = matched_children(
        [jacob, zofia], (listed("P-1", "Jacob Kowalski", "2014-02-11"), listed("P-2", *ZOFIA))
    )

    assert (matched, linked) == ([jacob.child, zofia.child], [zofia.child])


def test_no_link_when_another_child_the_cms_lists_has_the_same_name_and_birthday() -> None:
    zofia = held(None, *ZOFIA)

    matched, linked = matched_children([zofia], (listed("P-2", *ZOFIA), listed(None, *ZOFIA)))

    assert matched == [None, zofia.child]  # the id-less one is still the id-less one
    assert linked == []


def test_no_link_when_two_id_less_portal_children_have_that_name_and_birthday() -> None:
    first, second = held(None, *ZOFIA), held(None, *ZOFIA)

    matched, linked = matched_children([first, second], (listed("P-2", *ZOFIA),))

    assert (matched, linked) == ([None], [])


def test_a_person_id_the_portal_holds_is_never_linked_again() -> None:
    zofia, known = held(None, *ZOFIA), held("P-2", "Zofia Kowalska", "2024-12-03")

    matched, linked = matched_children([zofia, known], (listed("P-2", *ZOFIA),))

    assert (matched, linked) == ([known.child], [])


def test_a_child_listed_twice_by_one_person_id_is_matched_once() -> None:
    amelia = held("P-1", "Amelia Hart", "2015-03-14")

    matched, _ = matched_children(
        [amelia],
        (listed("P-1", "Amelia Hart", "2015-03-14"), listed("P-1", "Amelia Hart", "2015-03-14")),
    )

    assert matched == [amelia.child, None]


def test_a_cms_answer_naming_one_person_twice_is_a_transient_bad_response() -> None:
    twice = CmsCase(
        "NCC-100234",
        "Children in Need Team East",
        (
            listed("P-1", "Amelia Hart", "2015-03-14"),
            listed("P-1", "Oliver Hart", "2017-09-02"),
        ),
    )

    with pytest.raises(CmsFailure) as raised:
        believable(twice)

    assert (raised.value.code, raised.value.permanent) == ("cms_bad_response", False)
    assert "P-1" not in raised.value.summary


def test_children_without_a_person_id_may_share_a_name_and_birthday() -> None:
    twins = (listed(None, *ZOFIA), listed(None, *ZOFIA), listed("P-1", "Amelia", "2015-03-14"))

    believable(CmsCase("NCC-102788", "Children in Need Team East", twins))


def test_a_cms_answer_whose_date_of_birth_is_not_a_date_is_not_believed() -> None:
    garbled = (CmsChild("P-1", "Amelia Hart", "14/03/2015"),)
    with pytest.raises(CmsFailure) as refused:
        believable(CmsCase("NCC-100234", "Children in Need Team East", garbled))
    assert refused.value.code == "cms_bad_response" and not refused.value.permanent
    assert "14/03/2015" not in str(refused.value)
