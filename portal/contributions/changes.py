"""What changed between two sent versions of a contribution, part by part: the answers added,
changed or removed, and the documents added or removed (a document is its name and SHA-256:
the same file sent again is unchanged, a new file or a renamed one is removed and added).

Pure functions over the two versions' decrypted answers and documents, so that the review
page (portal/contributions/pages.py) only gathers them; the parts the council asked about when
it returned the previous version come first.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from portal.contributions.answers_form import Field, fields_of, file_fields_of, shown
from portal.forms_catalogue import FormTemplate, QuestionType
from portal.forms_catalogue.answers import DATE_PARTS
from portal.forms_catalogue.template import Question, Section

# Documents whose answer key no part of the form asks for (a form cannot lose a question
# within a version, but a document is never hidden from the reviewer for want of a place).
OTHER_DOCUMENTS = "other-documents"


class Change(enum.StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"


@dataclass(frozen=True)
class SentDocument:
    answer_key: str
    name: str
    sha256: str  # hexadecimal


@dataclass(frozen=True)
class SentVersion:
    """What one sent version holds, decrypted: its answers by key, and its documents."""

    number: int
    answers: dict[str, Any]
    documents: tuple[SentDocument, ...] = ()


@dataclass(frozen=True)
class AnswerChange:
    label: str  # the question, and the child it is about for per-child questions
    change: Change
    before: str | None  # as the page shows answers; None when added
    after: str | None  # None when removed


@dataclass(frozen=True)
class DocumentChange:
    label: str  # the question the document answers
    change: Change  # ADDED or REMOVED
    name: str
    sha256: str


@dataclass(frozen=True)
class PartChanges:
    section_id: str
    title: str
    asked_about: bool  # the council asked the partner to look at this part again
    answers: tuple[AnswerChange, ...]
    documents: tuple[DocumentChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.answers or self.documents)


def what_changed(
    template: FormTemplate,
    children: list[tuple[str, str]],
    previous: SentVersion | None,
    current: SentVersion,
    asked_about: Sequence[str] = (),
) -> list[PartChanges] | None:
    """Every part of the form with what changed in it since `previous`: the parts asked about
    first, then the other changed parts, then the unchanged ones, each in the form's order.
    None for a first version (nothing to compare with). `children` are the (id, name) pairs
    the partner answers about, in the family's order."""
    if previous is None:
        return None
    asked = set(asked_about)
    parts = [_part(section, children, previous, current, asked) for section in template.sections]
    others = _other_documents(template, children, previous, current)
    if others.changed:
        parts.append(others)
    return sorted(parts, key=lambda part: (not part.asked_about, not part.changed))


def _part(
    section: Section,
    children: list[tuple[str, str]],
    previous: SentVersion,
    current: SentVersion,
    asked: set[str],
) -> PartChanges:
    answers = (
        _answer_change(field, previous.answers.get(field.key), current.answers.get(field.key))
        for field in fields_of(section, children)
    )
    documents = (
        change
        for field in file_fields_of(section, children)
        for change in document_changes(
            field.label,
            [d for d in previous.documents if d.answer_key == field.key],
            [d for d in current.documents if d.answer_key == field.key],
        )
    )
    return PartChanges(
        section.id,
        section.title,
        section.id in asked,
        tuple(change for change in answers if change is not None),
        tuple(documents),
    )


def _answer_change(field: Field, before: Any, after: Any) -> AnswerChange | None:
    was, now = comparable(field.question, before), comparable(field.question, after)
    if was == now:
        return None
    if was is None:
        return AnswerChange(field.label, Change.ADDED, None, shown(field.question, after))
    if now is None:
        return AnswerChange(field.label, Change.REMOVED, shown(field.question, before), None)
    return AnswerChange(
        field.label, Change.CHANGED, shown(field.question, before), shown(field.question, after)
    )


def comparable(question: Question, value: Any) -> object:
    """An answer in a form two equal answers share, or None for no answer: spaces around
    text, the order of ticked choices and the way a day is typed ("03" or "3") change
    nothing; nested values are compared all the way down."""
    if question.type is QuestionType.DATE and isinstance(value, dict):
        if not any(str(value.get(part) or "").strip() for part in DATE_PARTS):
            return None
        return shown(question, value)  # the day, however its parts were typed
    return _settled(value)


def _settled(value: Any) -> object:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        entries = {str(key): _settled(item) for key, item in value.items()}
        kept = tuple(sorted((key, item) for key, item in entries.items() if item is not None))
        return kept or None
    if isinstance(value, list | tuple):
        items = [item for item in (_settled(item) for item in value) if item is not None]
        return tuple(sorted(items, key=repr)) or None
    return value


def document_changes(
    label: str, before: Iterable[SentDocument], after: Iterable[SentDocument]
) -> list[DocumentChange]:
    """The documents of one upload removed and added, by name and SHA-256: removed first,
    each list by name. A file attached twice counts twice."""
    was = Counter((d.name, d.sha256) for d in before)
    now = Counter((d.name, d.sha256) for d in after)
    removed = sorted((was - now).elements())
    added = sorted((now - was).elements())
    return [DocumentChange(label, Change.REMOVED, name, digest) for name, digest in removed] + [
        DocumentChange(label, Change.ADDED, name, digest) for name, digest in added
    ]


def _other_documents(
    template: FormTemplate,
    children: list[tuple[str, str]],
    previous: SentVersion,
    current: SentVersion,
) -> PartChanges:
    asked = {f.key for s in template.sections for f in file_fields_of(s, children)}
    changes = document_changes(
        "Other documents",
        [d for d in previous.documents if d.answer_key not in asked],
        [d for d in current.documents if d.answer_key not in asked],
    )
    return PartChanges(OTHER_DOCUMENTS, "Other documents", False, (), tuple(changes))
