"""A long file name is shortened to what file systems take (255 bytes of UTF-8, the sealed
plaintext's limit) at the end of its stem, keeping its extension, so the council's download
still opens in the right program. Through the real upload page and clamd, and the pure rule."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.attachments.names import MAX_FILENAME_BYTES, clean_filename, with_extension
from portal.models import Attachment
from tests.integration.test_contribution_documents import PDF, app, upload
from tests.integration.test_contributions import answer_everything, send
from tests.support.disarming import make_safe_copies
from tests.support.world import World, client_for, issue

__all__ = ["app"]  # the documents tests' app: a file store and the real clamd

REPORT = "Attendance report for the spring term " * 10  # 380 characters


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
        (REPORT + ".docx", REPORT[:250].rstrip() + ".docx"),
        ("b" * 255, "b" * 255),
        ("notes." + "x" * 300, ("notes." + "x" * 300)[:255]),  # no extension worth keeping
        ("." * 300 + ".pdf", "attachment.pdf"),
    ],
)
def test_a_long_name_keeps_its_extension(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept
    assert len(clean_filename(sent).encode()) <= MAX_FILENAME_BYTES


def test_the_limit_is_on_bytes_and_never_splits_a_character() -> None:
    kept = clean_filename("学校报告" * 40 + ".pdf")  # three bytes a character
    assert kept.endswith(".pdf") and kept.startswith("学校报告")
    assert MAX_FILENAME_BYTES - 3 < len(kept.encode()) <= MAX_FILENAME_BYTES


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("学校" * 100 + ".docx", "学校" * 41 + "学.docx"),  # 3-byte characters
        ("📄" * 80 + ".pdf", "📄" * 62 + ".pdf"),  # 4-byte characters
        ("r." + "x" * 300, ("r." + "x" * 300)[:255]),  # a very long "extension" is no extension
        ("r.pdf." + "y" * 11, "r.pdf." + "y" * 11),  # eleven letters: not an extension either
        (".pdf", "attachment.pdf"),  # only an extension would be a hidden file
        (".docx. . .", "attachment.docx"),
        ("report.pdf. . .", "report.pdf"),  # Windows would drop the trailing dots and spaces
        ("report .pdf ", "report .pdf"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override
        ("note\u2066s\u2069.txt", "notes.txt"),  # bidirectional isolates
        ("zero\u200bwidth.pdf", "zerowidth.pdf"),
        ("para\u2029graph.pdf", "paragraph.pdf"),
        ("..", "attachment"),
        ("report\x00.exe.pdf", "report.exe.pdf"),
        ('Minutes: "draft" <v2>|final?*.pdf', "Minutes_ _draft_ _v2__final__.pdf"),  # Windows
        ("CON.pdf", "_CON.pdf"),  # Windows devices, with or without an extension, any case
        ("nul", "_nul"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("lpt9 .txt", "_lpt9 .txt"),
        ("aux:.pdf", "aux_.pdf"),  # no longer a device's name once ":" is replaced
        ("CONSENT.pdf", "CONSENT.pdf"),  # only the names themselves
        ("com10.pdf", "com10.pdf"),
        ("?", "_"),
    ],
)
def test_hostile_names(sent: str, kept: str) -> None:
    assert clean_filename(sent) == kept
    assert len(kept.encode()) <= MAX_FILENAME_BYTES
    assert clean_filename(kept) == kept  # cleaning twice changes nothing


def test_names_differing_only_in_unicode_normalisation_are_one_name() -> None:
    composed, decomposed = "R\u00e9sum\u00e9 Zo\u00eb.docx", "Re\u0301sume\u0301 Zoe\u0308.docx"
    assert clean_filename(composed) == clean_filename(decomposed) == composed
    long_decomposed = "e\u0301" * 200 + ".pdf"  # 3 bytes a letter before NFC, 2 after
    assert clean_filename(long_decomposed) == "\u00e9" * 125 + ".pdf"


def test_a_safe_copys_name_keeps_the_stem_and_takes_its_own_extension() -> None:
    assert with_extension("Report.docx", ".pdf") == "Report.pdf"
    assert with_extension("Report", ".pdf") == "Report.pdf"
    assert with_extension("photo.final.jpeg", ".png") == "photo.final.png"
    long = clean_filename("a" * 300 + ".docx")
    assert with_extension(long, ".pdf") == "a" * 250 + ".pdf"  # the stem as it was kept
    assert with_extension("b" * 253 + ".md", ".pdf") == "b" * 251 + ".pdf"


@pytest.mark.parametrize(
    "name",
    [
        REPORT + ".pdf",
        "Re\u0301sume\u0301\u202e.pdf. .",
        "\u5b66\u6821\u62a5\u544a" * 30 + ".pdf",
        "Minutes: draft <v2>|final?.pdf",
        "prn.pdf",
    ],
)
def test_the_council_downloads_it_with_its_extension(
    app: Flask, world: World, db_session: Session, name: str
) -> None:
    """Shown and downloaded exactly as the sanitiser left it: nothing cleans it again."""
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    added = upload(teacher, reference, name, PDF)
    assert added.status_code == 302
    shown = clean_filename(name)
    assert shown.endswith(".pdf")
    assert shown in teacher.get(added.headers["Location"]).get_data(as_text=True)
    answer_everything(teacher, reference, [str(child.id) for child in world.case.children])
    assert send(teacher, reference).status_code == 302

    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None
    assert make_safe_copies(app).ready == 1  # the council downloads the safe copy
    worker = client_for(app, world.worker)
    with worker.get(f"/requests/{reference}/versions/1/files/{attachment.id}") as download:
        assert download.status_code == 200
        disposition = download.headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == shown
