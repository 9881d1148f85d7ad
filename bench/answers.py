"""Answers to each form template as a partner would give them (documents aside), checked once
with the portal's own validation: complete ones for sent versions, a first section's for drafts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.forms_catalogue import load_catalogue
from portal.forms_catalogue.answers import answer_keys, validate_answers
from portal.forms_catalogue.template import FormTemplate, Question, QuestionType

FORMS = Path(__file__).resolve().parent.parent / "config" / "forms"


class Answers:
    """Complete answers (and a first section's, for drafts) to each form template, as a partner
    would give them: checked once with the portal's own validation."""

    def __init__(self) -> None:
        catalogue = load_catalogue(FORMS)
        self._by_kind = {kind: catalogue.choices_for(kind)[0] for kind in ("school", "police")}
        self._by_kind["health"] = catalogue.choices_for("health")[0]
        self._given = {
            (template.id, part): [
                (question, value)
                for question in questions
                if (value := answer_to(question)) is not None
            ]
            for template in catalogue
            for part, questions in (
                ("final", template.questions),
                ("draft", template.sections[0].questions),
            )
        }
        for template in catalogue:
            errors = validate_answers(template, self.final(template, ["x"]), ["x"], final=True)
            if errors:
                raise ValueError(f"generated answers to {template.id} refused: {errors}")

    def template_for(self, kind: str) -> FormTemplate:
        return self._by_kind[kind]

    def final(self, template: FormTemplate, children: list[str]) -> dict[str, Any]:
        return self._answers(template, "final", children)

    def draft(self, template: FormTemplate, children: list[str]) -> dict[str, Any]:
        return self._answers(template, "draft", children)

    def _answers(self, template: FormTemplate, part: str, children: list[str]) -> dict[str, Any]:
        answers = {}
        for question, value in self._given[(template.id, part)]:
            for key in answer_keys(question, children):
                answers[key] = value
        return answers


def answer_to(question: Question) -> Any:
    """A valid answer of the question's type, as stored (None for a document)."""
    kind = question.type
    if kind is QuestionType.FILE:
        return None  # documents are not generated
    if kind is QuestionType.NUMBER:
        return str(question.min if question.min is not None else 0)
    if kind in (QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE):
        first = question.choice_values[0]
        return first if kind is QuestionType.SINGLE_CHOICE else [first]
    return {
        QuestionType.YES_NO: "no",
        QuestionType.DATE: "2025-09-03",
        QuestionType.SHORT_TEXT: "Seen daily by the class teacher",
    }.get(kind, "Settled in class; attends breakfast club most mornings and is often tired.")
