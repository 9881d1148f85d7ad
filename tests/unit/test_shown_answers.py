"""Answers as the check-your-answers and review pages show them."""

from __future__ import annotations

import pytest

from portal.contributions.answers_form import shown
from portal.forms_catalogue import Question, QuestionType

DATE = Question(id="latest-concern", type=QuestionType.DATE, label="Date", required=False)
TEXT = Question(id="notes", type=QuestionType.LONG_TEXT, label="Notes", required=False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "Not answered"),
        ({"day": "", "month": "", "year": ""}, "Not answered"),
        ({"day": " ", "month": None}, "Not answered"),
        ({"day": "14", "month": "3", "year": "2015"}, "14 March 2015"),
        ({"day": "31", "month": "2", "year": "2015"}, "31/2/2015"),
        ({"day": "", "month": "3", "year": "2015"}, "/3/2015"),
    ],
)
def test_a_date_answer_is_shown_as_people_write_it(value: object, expected: str) -> None:
    assert shown(DATE, value) == expected


def test_other_answers_are_shown_as_given_or_not_answered() -> None:
    assert shown(TEXT, "") == "Not answered"
    assert shown(TEXT, "Often tired.") == "Often tired."
