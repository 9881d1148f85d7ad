"""A safe copy is named after the sanitised original, with the safe copy's own extension, and
shortened by the sanitiser's rules so that the extension survives."""

from __future__ import annotations

import uuid

import pytest

from portal.attachments.names import MAX_FILENAME_BYTES, clean_filename
from portal.attachments.safe_copies import safe_copy_file_id, safe_copy_name


@pytest.mark.parametrize(
    ("original", "content_type", "expected"),
    [
        ("Report.docx", "application/pdf", "Report.pdf"),
        ("Report.final.xlsx", "application/pdf", "Report.final.pdf"),
        ("scan.pdf", "application/pdf", "scan.pdf"),
        ("photo.png", "image/png", "photo.png"),
        ("photo.jpeg", "image/jpeg", "photo.jpg"),
        ("notes.txt", "text/plain", "notes.txt"),
        ("README", "application/pdf", "README.pdf"),
        (".docx", "application/pdf", "attachment.docx.pdf"),  # never hidden: clean_filename
        ("Report.docx", "application/x-unknown", "Report.docx"),
    ],
)
def test_the_name_is_the_stem_with_the_safe_copys_extension(
    original: str, content_type: str, expected: str
) -> None:
    assert safe_copy_name(original, content_type) == expected


def test_a_long_name_keeps_the_new_extension_within_the_limit() -> None:
    original = clean_filename("学校报告" * 60 + ".docx")
    assert original.endswith(".docx")
    safe = safe_copy_name(original, "application/pdf")
    assert safe.endswith(".pdf") and safe.startswith("学校报告")
    assert len(safe.encode()) <= MAX_FILENAME_BYTES
    assert safe == clean_filename(safe)  # as the sanitiser would leave it


def test_the_safe_copys_file_id_is_its_own_and_always_the_same() -> None:
    attachment_id = uuid.uuid4()
    assert safe_copy_file_id(attachment_id) == safe_copy_file_id(attachment_id)
    assert safe_copy_file_id(attachment_id) != attachment_id
    assert safe_copy_file_id(uuid.uuid4()) != safe_copy_file_id(attachment_id)
