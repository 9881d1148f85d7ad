"""A form template as its TOML file declares it: sections of typed questions, checked on load.

Rules that span fields (unique ids, options that fit the question's type) raise a
`template_rule` error whose context says which key is at fault, so the loader can name its line.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

# Lower-case words joined by single hyphens: safe in file names, answer keys and HTML ids.
ID_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
RULE_ERROR = "template_rule"

PartnerKind = Literal["school", "police", "health", "other"]
Id = Annotated[StrictStr, Field(pattern=ID_PATTERN, max_length=64)]
Text = Annotated[StrictStr, Field(pattern=r"\S")]
Number = Annotated[float, Field(strict=True)]


class QuestionType(enum.StrEnum):
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"
    YES_NO = "yes_no"
    DATE = "date"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    NUMBER = "number"
    FILE = "file"


TEXT_TYPES = frozenset({QuestionType.SHORT_TEXT, QuestionType.LONG_TEXT})
CHOICE_TYPES = frozenset({QuestionType.SINGLE_CHOICE, QuestionType.MULTIPLE_CHOICE})
NUMBER_TYPES = frozenset({QuestionType.NUMBER})
DEFAULT_MAX_LENGTH = {QuestionType.SHORT_TEXT: 200, QuestionType.LONG_TEXT: 5000}
# Which question types each type-specific option belongs to.
OPTION_TYPES: dict[str, frozenset[QuestionType]] = {
    "max_length": TEXT_TYPES,
    "choices": CHOICE_TYPES,
    "min": NUMBER_TYPES,
    "max": NUMBER_TYPES,
    "decimal_places": NUMBER_TYPES,
}


def rule_error(at: tuple[str | int, ...], message: str) -> PydanticCustomError:
    """A broken rule; `at` is the offending key's path below the model that raises it."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message, "at": at})


class _TemplatePart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Choice(_TemplatePart):
    value: Id
    label: Text


class Question(_TemplatePart):
    id: Id
    type: QuestionType
    label: Text
    hint: Text | None = None
    required: StrictBool
    # The error shown when a required question is left unanswered, instead of the type's default.
    required_message: Text | None = None
    # Asked once for each child the request covers.
    per_child: StrictBool = False
    max_length: Annotated[StrictInt, Field(gt=0)] | None = None
    choices: tuple[Choice, ...] | None = None
    min: Number | None = None
    max: Number | None = None
    decimal_places: Annotated[StrictInt, Field(ge=0, le=6)] | None = None

    @property
    def character_limit(self) -> int | None:
        """The most characters a text answer may have; None for other types."""
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.type)

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices or ())

    @model_validator(mode="after")
    def _options_fit_type(self) -> Question:
        _check_options_belong(self)
        _check_choices(self)
        if self.min is not None and self.max is not None and self.min > self.max:
            raise rule_error(
                ("min",), f'question "{self.id}" has min greater than max, so no answer fits'
            )
        if self.required_message is not None and not self.required:
            raise rule_error(
                ("required_message",),
                f'question "{self.id}" has a required_message but is not required',
            )
        return self


def _check_options_belong(question: Question) -> None:
    for option, types in OPTION_TYPES.items():
        if getattr(question, option) is not None and question.type not in types:
            names = " and ".join(sorted(types))
            raise rule_error(
                (option,),
                f'question "{question.id}" has {option}, which only {names} questions take',
            )


def _check_choices(question: Question) -> None:
    if question.type not in CHOICE_TYPES:
        return
    if not question.choices:
        # Point at `choices = []` if it is there, else at the type that needs choices.
        at = "type" if question.choices is None else "choices"
        raise rule_error((at,), f'question "{question.id}" is {question.type} but has no choices')
    repeat = _first_repeat(question.choice_values)
    if repeat is not None:
        index, value = repeat
        raise rule_error(
            ("choices", index), f'question "{question.id}" has the choice value "{value}" twice'
        )


class Section(_TemplatePart):
    id: Id
    title: Text
    hint: Text | None = None
    questions: tuple[Question, ...] = Field(alias="question", min_length=1)


class FormTemplate(_TemplatePart):
    id: Id
    version: Annotated[StrictInt, Field(ge=1)]
    title: Text
    description: Text
    for_organisation_kinds: tuple[PartnerKind, ...] = Field(min_length=1)
    sections: tuple[Section, ...] = Field(alias="section", min_length=1)

    @property
    def questions(self) -> tuple[Question, ...]:
        """Every question, in the order the form asks them."""
        return tuple(question for section in self.sections for question in section.questions)

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    @model_validator(mode="after")
    def _ids_are_unique(self) -> FormTemplate:
        # One namespace for sections and questions: pages use both as HTML ids.
        places: list[tuple[str | int, ...]] = [("section", s) for s in range(len(self.sections))]
        ids = [section.id for section in self.sections]
        for s, section in enumerate(self.sections):
            places.extend(("section", s, "question", q) for q in range(len(section.questions)))
            ids.extend(question.id for question in section.questions)
        repeat = _first_repeat(ids)
        if repeat is not None:
            index, repeated = repeat
            raise rule_error(
                (*places[index], "id"),
                f'the id "{repeated}" is used twice: give each section and question in a '
                "template its own id",
            )
        return self


def _first_repeat(values: Iterable[str]) -> tuple[int, str] | None:
    """The index and value of the first value that repeats an earlier one."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            return index, value
        seen.add(value)
    return None
