"""Checking a partner's answers against a form template, with GOV.UK-style error messages.

Answers are keyed by question id, or `<question id>:<child id>` for a question asked once per
child. Values are strings as a form posts them; a multiple-choice answer is a list of strings; a
date is `YYYY-MM-DD` or the `day`, `month` and `year` a GOV.UK date input posts. File questions
are left to the attachments capability and are not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from portal.forms_catalogue.template import FormTemplate, Question, QuestionType

CHILD_SEPARATOR = ":"
NOT_ON_FORM = "This answer is not part of the form"
DATE_PARTS = ("day", "month", "year")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# What a required question says when it is left unanswered, unless it has a required_message.
MISSING_MESSAGES = {
    QuestionType.SHORT_TEXT: "Enter an answer",
    QuestionType.LONG_TEXT: "Enter an answer",
    QuestionType.YES_NO: "Select yes or no",
    QuestionType.DATE: "Enter a date",
    QuestionType.SINGLE_CHOICE: "Select an option",
    QuestionType.MULTIPLE_CHOICE: "Select at least one option",
    QuestionType.NUMBER: "Enter a number",
}


def answer_key(question: Question, child_id: str | None = None) -> str:
    """The key of one answer: the question id, with the child's id for per-child questions."""
    if not question.per_child:
        return question.id
    if not child_id:
        raise ValueError(f'Question "{question.id}" is asked per child: name the child')
    return f"{question.id}{CHILD_SEPARATOR}{child_id}"


def answer_keys(question: Question, children: Iterable[str]) -> list[str]:
    """Every key the question is answered under: one, or one per child."""
    if question.per_child:
        return [answer_key(question, child) for child in dict.fromkeys(children)]
    return [answer_key(question)]


def validate_answers(
    template: FormTemplate, answers: Mapping[str, object], children: list[str], *, final: bool
) -> dict[str, str]:
    """Errors by answer key, in the form's order; empty when the answers may be saved.

    A draft (`final=False`) may leave anything unanswered; a final answer set must answer
    every required question. Keys the form does not ask are refused.
    """
    errors: dict[str, str] = {}
    expected: set[str] = set()
    for question in template.questions:
        keys = answer_keys(question, children)
        expected.update(keys)
        if question.type is QuestionType.FILE:
            continue
        for key in keys:
            message = check_answer(question, answers.get(key), final=final)
            if message is not None:
                errors[key] = message
    for key in answers:
        if key not in expected:
            errors[key] = NOT_ON_FORM
    return errors


def check_answer(question: Question, value: object, *, final: bool) -> str | None:
    """The error for one answer to a question, or None."""
    if _is_blank(value):
        if final and question.required:
            return question.required_message or MISSING_MESSAGES[question.type]
        return None
    return _CHECKS[question.type](question, value)


def _is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return not value
    if isinstance(value, Mapping):
        return all(_is_blank(value.get(part)) for part in DATE_PARTS)
    return False


def _check_text(question: Question, value: object) -> str | None:
    if not isinstance(value, str):
        return "Answer must be text"
    # Browsers send each line break as \r\n; people (and the character count) see one character.
    length = len(value.strip().replace("\r\n", "\n"))
    limit = question.character_limit
    if limit is not None and length > limit:
        return f"Answer must be {limit} characters or fewer"
    return None


def _check_yes_no(question: Question, value: object) -> str | None:
    return None if value in ("yes", "no") else "Select yes or no"


def _check_single_choice(question: Question, value: object) -> str | None:
    return None if value in question.choice_values else "Select one of the options shown"


def _check_multiple_choice(question: Question, value: object) -> str | None:
    if not isinstance(value, list | tuple):
        return "Select from the options shown"
    if any(choice not in question.choice_values for choice in value):
        return "Select from the options shown"
    return None


def _check_number(question: Question, value: object) -> str | None:
    number = _as_decimal(value)
    if number is None:
        return "Answer must be a number"
    places = question.decimal_places or 0
    if number != round(number, places):
        if places == 0:
            return "Answer must be a whole number"
        unit = "decimal place" if places == 1 else "decimal places"
        return f"Answer must have no more than {places} {unit}"
    return _check_range(question, number)


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip().replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    # Decimal accepts NaN and Infinity; also refuse numbers too large to round cheaply.
    if not number.is_finite() or number.adjusted() > 15:
        return None
    return number


def _check_range(question: Question, number: Decimal) -> str | None:
    low = None if question.min is None else Decimal(str(question.min))
    high = None if question.max is None else Decimal(str(question.max))
    too_low = low is not None and number < low
    too_high = high is not None and number > high
    if not (too_low or too_high):
        return None
    if low is not None and high is not None:
        return f"Answer must be between {_plain(low)} and {_plain(high)}"
    if low is not None:
        return f"Answer must be {_plain(low)} or more"
    return f"Answer must be {_plain(high)} or less"


def _plain(number: Decimal | None) -> str:
    """0.0 is shown as 0 and 2.50 as 2.5."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _check_date(question: Question, value: object) -> str | None:
    if isinstance(value, str):
        return None if _iso_date(value.strip()) else "Date must be a real date"
    if isinstance(value, Mapping):
        return _check_date_parts(value)
    return "Date must be a real date"


def _iso_date(text: str) -> bool:
    if not _ISO_DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _check_date_parts(value: Mapping[object, object]) -> str | None:
    parts = {part: str(value.get(part) or "").strip() for part in DATE_PARTS}
    missing = [part for part in DATE_PARTS if not parts[part]]
    if missing:
        return f"Date must include a {' and '.join(missing)}"
    if not all(part.isdecimal() for part in parts.values()):
        return "Date must be a real date"
    if len(parts["year"]) != 4:
        return "Year must include 4 numbers"
    try:
        date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        return "Date must be a real date"
    return None


_CHECKS: dict[QuestionType, Callable[[Question, object], str | None]] = {
    QuestionType.SHORT_TEXT: _check_text,
    QuestionType.LONG_TEXT: _check_text,
    QuestionType.YES_NO: _check_yes_no,
    QuestionType.SINGLE_CHOICE: _check_single_choice,
    QuestionType.MULTIPLE_CHOICE: _check_multiple_choice,
    QuestionType.NUMBER: _check_number,
    QuestionType.DATE: _check_date,
}
