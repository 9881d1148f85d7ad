"""What changed between two sent versions (portal/contributions/changes.py): answers added,
changed and removed, lists, dates, nested values, empty answers and documents, and the order
of the parts (asked about, then changed, then unchanged)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.contributions.changes import (
    OTHER_DOCUMENTS,
    AnswerChange,
    Change,
    DocumentChange,
    PartChanges,
    SentDocument,
    SentVersion,
    comparable,
    document_changes,
    what_changed,
)
from portal.forms_catalogue import FormTemplate

TEMPLATE = FormTemplate.model_validate(
    {
        "id": "test-form",
        "version": 1,
        "title": "Test form",
        "description": "A form to compare versions of.",
        "for_organisation_kinds": ["school"],
        "section": [
            {
                "id": "attendance",
                "title": "Attendance",
                "question": [
                    {
                        "id": "attendance-percentage",
                        "type": "number",
                        "label": "Attendance (%)",
                        "required": True,
                        "per_child": True,
                    },
                    {"id": "register", "type": "file", "label": "Register", "required": False},
                ],
            },
            {
                "id": "wellbeing",
                "title": "Wellbeing",
                "question": [
                    {"id": "worries", "type": "long_text", "label": "Worries", "required": False},
                    {
                        "id": "concerns",
                        "type": "multiple_choice",
                        "label": "Concerns",
                        "required": False,
                        "choices": [
                            {"value": "hunger", "label": "Hunger"},
                            {"value": "hygiene", "label": "Hygiene"},
                            {"value": "injury", "label": "Injury"},
                        ],
                    },
                    {"id": "last-seen", "type": "date", "label": "Last seen", "required": False},
                    {"id": "known", "type": "yes_no", "label": "Known to you?", "required": False},
                ],
            },
            {
                "id": "safety",
                "title": "Safety",
                "question": [
                    {
                        "id": "disclosures",
                        "type": "long_text",
                        "label": "Disclosures",
                        "required": False,
                    }
                ],
            },
        ],
    }
)
CHILDREN = [("c1", "Amelia Hart"), ("c2", "Oliver Hart")]
ANSWERS: dict[str, Any] = {
    "attendance-percentage:c1": "92.5",
    "attendance-percentage:c2": "88",
    "worries": "Often tired",
    "concerns": ["hunger", "hygiene"],
    "last-seen": {"day": "3", "month": "12", "year": "2026"},
    "known": "yes",
    "disclosures": "",
}
REGISTER = SentDocument("register", "register.pdf", "aa" * 32)


def compare(
    after: dict[str, Any],
    asked: tuple[str, ...] = (),
    before_documents: tuple[SentDocument, ...] = (),
    after_documents: tuple[SentDocument, ...] = (),
) -> dict[str, PartChanges]:
    found = what_changed(
        TEMPLATE,
        CHILDREN,
        SentVersion(1, ANSWERS, before_documents),
        SentVersion(2, after, after_documents),
        asked,
    )
    assert found is not None
    return {part.section_id: part for part in found}


def test_a_first_version_has_nothing_to_compare_with() -> None:
    assert what_changed(TEMPLATE, CHILDREN, None, SentVersion(1, ANSWERS)) is None


def test_the_same_answers_change_nothing() -> None:
    parts = compare(dict(ANSWERS), before_documents=(REGISTER,), after_documents=(REGISTER,))
    assert [part.section_id for part in parts.values()] == ["attendance", "wellbeing", "safety"]
    assert not any(part.changed for part in parts.values())


def test_a_changed_answer_shows_both_values_as_the_page_shows_answers() -> None:
    parts = compare(ANSWERS | {"attendance-percentage:c2": "91", "known": "no"})
    assert parts["attendance"].answers == (
        AnswerChange("Attendance (%) – Oliver Hart", Change.CHANGED, "88", "91"),
    )
    assert parts["wellbeing"].answers == (
        AnswerChange("Known to you?", Change.CHANGED, "Yes", "No"),
    )


def test_an_added_and_a_removed_answer() -> None:
    parts = compare(ANSWERS | {"disclosures": "Said she was scared", "worries": "  "})
    assert parts["safety"].answers == (
        AnswerChange("Disclosures", Change.ADDED, None, "Said she was scared"),
    )
    assert parts["wellbeing"].answers == (
        AnswerChange("Worries", Change.REMOVED, "Often tired", None),
    )


def test_a_key_missing_altogether_is_an_answer_removed() -> None:
    after = {key: value for key, value in ANSWERS.items() if key != "attendance-percentage:c1"}
    assert compare(after)["attendance"].answers == (
        AnswerChange("Attendance (%) – Amelia Hart", Change.REMOVED, "92.5", None),
    )


@pytest.mark.parametrize(
    "empty", [None, "", "   ", [], {}, {"day": "", "month": " ", "year": ""}, [""]]
)
def test_every_kind_of_empty_answer_is_no_answer(empty: object) -> None:
    assert compare(ANSWERS | {"disclosures": empty})["safety"].answers == ()


def test_choices_ticked_in_another_order_are_the_same_and_a_new_one_is_a_change() -> None:
    assert compare(ANSWERS | {"concerns": ["hygiene", "hunger"]})["wellbeing"].answers == ()
    changed = compare(ANSWERS | {"concerns": ["hunger", "injury"]})["wellbeing"].answers
    assert changed == (
        AnswerChange("Concerns", Change.CHANGED, "Hunger, Hygiene", "Hunger, Injury"),
    )
    cleared = compare(ANSWERS | {"concerns": []})["wellbeing"].answers
    assert cleared == (AnswerChange("Concerns", Change.REMOVED, "Hunger, Hygiene", None),)


def test_a_day_typed_differently_is_the_same_day_and_another_day_is_a_change() -> None:
    same = {"day": "03", "month": "12", "year": "2026"}
    assert compare(ANSWERS | {"last-seen": same})["wellbeing"].answers == ()
    later = {"day": "4", "month": "12", "year": "2026"}
    assert compare(ANSWERS | {"last-seen": later})["wellbeing"].answers == (
        AnswerChange("Last seen", Change.CHANGED, "3 December 2026", "4 December 2026"),
    )


def test_nested_values_are_compared_all_the_way_down() -> None:
    question = TEMPLATE.sections[2].questions[0]
    nested = {"a": [{"b": " x "}, {"c": ["2", "1"]}], "empty": {"d": ""}}
    same = {"empty": {}, "a": [{"c": ["1", "2"]}, {"b": "x"}]}
    assert comparable(question, nested) == comparable(question, same)
    assert comparable(question, nested) != comparable(question, {"a": [{"b": "y"}]})
    assert comparable(question, 3) == 3 and comparable(question, {"e": [None, ""]}) is None


def test_documents_added_and_removed_by_name_and_digest() -> None:
    new_register = SentDocument("register", "register.pdf", "bb" * 32)
    plan = SentDocument("register", "plan.docx", "cc" * 32)
    parts = compare(
        dict(ANSWERS), before_documents=(REGISTER,), after_documents=(new_register, plan)
    )
    assert parts["attendance"].documents == (
        DocumentChange("Register", Change.REMOVED, "register.pdf", "aa" * 32),
        DocumentChange("Register", Change.ADDED, "plan.docx", "cc" * 32),
        DocumentChange("Register", Change.ADDED, "register.pdf", "bb" * 32),
    )
    assert parts["attendance"].answers == () and parts["attendance"].changed


def test_a_renamed_file_is_removed_and_added_and_a_second_copy_counts() -> None:
    renamed = SentDocument("register", "register-final.pdf", REGISTER.sha256)
    assert document_changes("Register", [REGISTER], [renamed]) == [
        DocumentChange("Register", Change.REMOVED, "register.pdf", REGISTER.sha256),
        DocumentChange("Register", Change.ADDED, "register-final.pdf", REGISTER.sha256),
    ]
    assert document_changes("Register", [REGISTER], [REGISTER, REGISTER]) == [
        DocumentChange("Register", Change.ADDED, "register.pdf", REGISTER.sha256),
    ]
    assert document_changes("Register", [REGISTER], [REGISTER]) == []


def test_documents_no_part_asks_for_are_still_shown() -> None:
    stray = SentDocument("gone-question", "old.txt", "dd" * 32)
    parts = compare(dict(ANSWERS), before_documents=(stray,))
    assert parts[OTHER_DOCUMENTS].documents == (
        DocumentChange("Other documents", Change.REMOVED, "old.txt", "dd" * 32),
    )
    assert OTHER_DOCUMENTS not in compare(dict(ANSWERS))


def test_parts_asked_about_come_first_then_changed_then_unchanged() -> None:
    found = what_changed(
        TEMPLATE,
        CHILDREN,
        SentVersion(1, ANSWERS),
        SentVersion(2, ANSWERS | {"disclosures": "New"}),
        ["wellbeing"],
    )
    assert found is not None
    assert [(p.section_id, p.asked_about, p.changed) for p in found] == [
        ("wellbeing", True, False),  # asked about, even unchanged: the reviewer must know
        ("safety", False, True),
        ("attendance", False, False),
    ]


def test_several_parts_asked_about_keep_the_forms_order() -> None:
    found = what_changed(
        TEMPLATE,
        CHILDREN,
        SentVersion(1, ANSWERS),
        SentVersion(2, ANSWERS | {"worries": "Better"}),
        ["safety", "attendance", "no-such-part"],
    )
    assert found is not None
    assert [p.section_id for p in found] == ["attendance", "safety", "wellbeing"]
