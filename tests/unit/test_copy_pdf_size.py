"""The largest copy the portal can make still goes through the public receipt check: the
school form with every text answer at its longest, six children, in characters that JSON
escapes at their longest (the canonical content is ASCII: ensure_ascii), and the PDF carries it
compressed (portal/contributions/copy_pdf.py; portal/receipts/extract.py inflates it with a
cap)."""

from __future__ import annotations

import hashlib
import random
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from portal.cases.identifiers import ChildIdentifier
from portal.config import PROJECT_ROOT
from portal.contributions.confirmations import ChildOnRequest, Identifier
from portal.contributions.copy_pdf import copy_pdf
from portal.contributions.receipts import canonical_content
from portal.contributions.sent_copy import SentCopy
from portal.forms_catalogue.template import FormTemplate, QuestionType
from portal.models import ChildKnown, MatchedOn
from portal.receipts.extract import MAX_UPLOAD_BYTES
from portal.receipts.pdf_reader import read_pdf
from tests.support.pdf_font import require_pdf_font

SCHOOL_FORM = PROJECT_ROOT / "config" / "forms" / "school-contribution.v1.toml"
CHILDREN = 6
# Cyrillic is in the PDF's font (so every character is drawn, none replaced by one mark);
# emoji are not, but each is a 12-byte surrogate pair escape in the content.
ALPHABETS = {
    "cyrillic": [chr(c) for c in range(0x0410, 0x0450)],
    "emoji": [chr(c) for c in range(0x1F300, 0x1F5FF)],
}
LONGEST = {QuestionType.SHORT_TEXT: 200, QuestionType.LONG_TEXT: 5000}


def _longest_answers(form: FormTemplate, children: list[str], letters: list[str]) -> dict[str, Any]:
    chance = random.Random(20)  # noqa: S311 - test data, not secrets
    answers: dict[str, Any] = {}
    for question in form.questions:
        keys = [f"{question.id}:{c}" for c in children] if question.per_child else [question.id]
        for key in keys:
            if question.type in LONGEST:
                length = question.max_length or LONGEST[question.type]
                answers[key] = "".join(chance.choice(letters) for _ in range(length))
            elif question.type is QuestionType.MULTIPLE_CHOICE:
                answers[key] = [choice.value for choice in question.choices]
            elif question.type is not QuestionType.FILE:
                answers[key] = "100.0"
    return answers


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
def test_the_largest_copy_fits_under_the_receipt_checks_cap(alphabet: str) -> None:
    require_pdf_font()
    form = FormTemplate.model_validate(tomllib.loads(Path(SCHOOL_FORM).read_text()))
    children = [str(uuid.uuid4()) for _ in range(CHILDREN)]
    answers = _longest_answers(form, children, ALPHABETS[alphabet])
    request = SimpleNamespace(
        reference="REQ-2026-000001", form_template=form.id, form_template_version=form.version
    )
    documents = [
        SimpleNamespace(
            answer_key="documents",
            sha256=bytes(32),
            size_bytes=10**7,
            content_type="application/pdf",
        )
        for _ in range(20)
    ]
    contribution = SimpleNamespace(version=99, attachments=documents)
    confirmations = [
        SimpleNamespace(child_id=c, answer=ChildKnown.KNOWN, matched_on=MatchedOn.UPN)
        for c in children
    ]
    content = canonical_content(
        cast(Any, request), cast(Any, contribution), answers, cast(Any, confirmations)
    )
    assert content.isascii()
    name = "".join(ALPHABETS["cyrillic"][i % 48] for i in range(100))
    copy = SentCopy(
        request_=cast(Any, request),
        organisation=name * 2,
        version=99,
        sent_by=name,
        sent_at=datetime.now(UTC),
        receipt={
            "request": request.reference,
            "version": 99,
            "sha256": "0" * 64,
            "key_id": "0" * 16,
            "signature": "0" * 128,
        },
        template_title=form.title,
        sections=[("Answers", [(key, str(value)) for key, value in answers.items()])],
        children=[
            ChildOnRequest(
                c,
                name,
                "2015-01-01",
                (Identifier(ChildIdentifier.UPN, "A123456789012"),),
                ChildKnown.KNOWN,
                MatchedOn.UPN,
            )
            for c in children
        ],
        content=content,
    )
    pdf = copy_pdf(copy)
    assert len(content) <= MAX_UPLOAD_BYTES and len(pdf) <= MAX_UPLOAD_BYTES // 4
    extracted = read_pdf(pdf)
    assert extracted.error is None and extracted.content is not None
    assert hashlib.sha256(extracted.content).digest() == hashlib.sha256(content).digest()
