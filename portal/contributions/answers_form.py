"""Reading a section's answers from a posted GOV.UK form, and showing answers back.

The question pages are drawn from the form template, not declared as WTForms classes: each
answer's input is named by its answer key (`<question>` or `<question>:<child>`), dates as the
GOV.UK date input's `<key>-day`, `<key>-month` and `<key>-year`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from werkzeug.datastructures import MultiDict

from portal.forms_catalogue import FormTemplate, Question, QuestionType, answer_keys, check_answer
from portal.forms_catalogue.answers import CHILD_SEPARATOR, DATE_PARTS
from portal.forms_catalogue.template import Section
from portal.uk_time import long_date


@dataclass(frozen=True)
class Field:
    """One input on a question page: a question, for one child or for all."""

    question: Question
    key: str
    child_name: str | None

    @property
    def label(self) -> str:
        return (
            f"{self.question.label} – {self.child_name}" if self.child_name else self.question.label
        )


def fields_of(section: Section, children: list[tuple[str, str]]) -> list[Field]:
    """The inputs a section asks for; `children` are (id, name) in the family's order."""
    names = dict(children)
    fields = []
    for question in section.questions:
        if question.type is QuestionType.FILE:
            continue  # attachments have their own upload step
        for key in answer_keys(question, [child_id for child_id, _ in children]):
            child_id = key.partition(":")[2] or None
            fields.append(Field(question, key, names.get(child_id) if child_id else None))
    return fields


def file_fields_of(section: Section, children: list[tuple[str, str]]) -> list[Field]:
    """The documents a section asks for, one upload per child for per-child questions."""
    names = dict(children)
    found = []
    for question in section.questions:
        if question.type is not QuestionType.FILE:
            continue
        for key in answer_keys(question, [child_id for child_id, _ in children]):
            child_id = key.partition(":")[2] or None
            found.append(Field(question, key, names.get(child_id) if child_id else None))
    return found


def read_section(fields: list[Field], form: MultiDict[str, str]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for field in fields:
        kind = field.question.type
        if kind is QuestionType.MULTIPLE_CHOICE:
            answers[field.key] = [value for value in form.getlist(field.key) if value]
        elif kind is QuestionType.DATE:
            answers[field.key] = {
                part: form.get(f"{field.key}-{part}", "").strip() for part in DATE_PARTS
            }
        else:
            answers[field.key] = form.get(field.key, "").strip()
    return answers


def unasked(fields: list[Field], form: MultiDict[str, str]) -> list[str]:
    """Per-child answers posted that the page did not ask for: about a child the partner has
    not said it holds a record for (or any other child id). Never saved."""
    asked = {field.key for field in fields}
    posted = {_without_date_part(name) for name in form}
    return sorted(key for key in posted if CHILD_SEPARATOR in key and key not in asked)


def _without_date_part(name: str) -> str:
    key, _, part = name.rpartition("-")
    return key if key and part in DATE_PARTS else name


def section_errors(fields: list[Field], answers: dict[str, Any]) -> dict[str, str]:
    """Errors a draft may not be saved with (required questions wait for the final check)."""
    errors = {}
    for field in fields:
        message = check_answer(field.question, answers.get(field.key), final=False)
        if message is not None:
            errors[field.key] = message
    return errors


def shown(question: Question, value: Any) -> str:
    """An answer as the check-your-answers and review pages show it."""
    if _blank(question, value):
        return "Not answered"
    if question.type is QuestionType.YES_NO:
        return "Yes" if value == "yes" else "No"
    if question.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        labels = {choice.value: choice.label for choice in question.choices or ()}
        values = value if isinstance(value, list) else [value]
        return ", ".join(str(labels.get(v) or v) for v in values)
    if question.type is QuestionType.DATE and isinstance(value, dict):
        return _day(value)
    return str(value)


def _blank(question: Question, value: Any) -> bool:
    if question.type is QuestionType.DATE and isinstance(value, dict):
        return not any(str(value.get(part) or "").strip() for part in DATE_PARTS)
    return value in (None, "", [], {})


def _day(value: dict[str, Any]) -> str:
    """A date answer as people write it (14 March 2015)."""
    parts = [str(value.get(part) or "").strip() for part in DATE_PARTS]
    try:
        return long_date(date(int(parts[2]), int(parts[1]), int(parts[0])))
    except ValueError:
        return "/".join(parts)


def section_after(template: FormTemplate, section_id: str) -> str | None:
    ids = [section.id for section in template.sections]
    position = ids.index(section_id)
    return ids[position + 1] if position + 1 < len(ids) else None


def first_section_with_error(template: FormTemplate, errors: dict[str, str]) -> str | None:
    for section in template.sections:
        for question in section.questions:
            if any(key.partition(":")[0] == question.id for key in errors):
                return section.id
    return None
