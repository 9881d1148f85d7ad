"""The copy's PDF (portal/contributions/copy_pdf.py) shows names and answers in other scripts
exactly as sent, says where the exact text is when it cannot show something, and is not made
at all without its font."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pikepdf
import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.contributions import copy_pdf
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from tests.integration import test_contributions
from tests.integration.test_sent_copy import copy_path, pdf_of, send_a_version
from tests.support.pdf_text import pdf_text
from tests.support.world import World, client_for

CHILDREN = ("Łukasz Wójcik", "Nguyễn Thị Minh Khai")  # Polish, Vietnamese
SENDER = "Γιώργος Παπαδόπουλος"  # Greek
ORGANISATION = "Школа № 5 «Дружба»"  # Cyrillic
ANSWER_LINES = (
    "Zażółć gęślą jaźń: “cytat” – koniec…",
    "Tiếng Việt: Trường Tiểu học Nguyễn Du",
    "Ελληνικά: «ευχαριστώ» και 5 €",
    "Русский: всё хорошо, ёжик",
)
REPLACED = "\ufffd"


def send_with(
    app: Flask,
    world: World,
    db_session: Session,
    keyring: FileKeyring,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
) -> str:
    """The teacher sends version 1 with `answer` as every long answer, from the organisation
    ORGANISATION, under the name SENDER, about the children CHILDREN."""
    cipher = RecordCipher(keyring, db_session)
    for child, name in zip(world.case.children, CHILDREN, strict=True):
        cipher.seal_text(child, "name_enc", name)
    world.teacher.display_name = SENDER
    world.school.name = ORGANISATION
    db_session.commit()
    monkeypatch.setattr(test_contributions, "SECRET_ANSWER", answer)
    return send_a_version(app, world)


def embedded_content(data: bytes) -> dict[str, object]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        content = json.loads(pdf.attachments["content.json"].get_file().read_bytes())
    assert isinstance(content, dict)
    return content


def test_names_and_answers_in_other_scripts_come_out_exactly(
    app: Flask,
    world: World,
    db_session: Session,
    keyring: FileKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = "\n".join(ANSWER_LINES)
    reference = send_with(app, world, db_session, keyring, monkeypatch, answer)
    data = pdf_of(client_for(app, world.teacher), reference)
    text = pdf_text(data)
    for sent in (*CHILDREN, SENDER, ORGANISATION, *ANSWER_LINES):
        assert sent in text, sent
    assert REPLACED not in text and "cannot be shown" not in text
    assert "Right-to-left" not in text
    assert answer in embedded_content(data)["answers"].values()  # type: ignore[operator]


def test_what_the_font_lacks_is_marked_and_the_note_says_where_the_exact_text_is(
    app: Flask,
    world: World,
    db_session: Session,
    keyring: FileKeyring,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DejaVu Sans has U+1F600 (grinning face) but not U+1F44D (thumbs up) nor Chinese; it has
    # Arabic letters, set unshaped; U+200B (zero width space) is invisible.
    answer = "Smiling 😀, thumbs up 👍 from 王小明\u200b.\nمرحبا"
    reference = send_with(app, world, db_session, keyring, monkeypatch, answer)
    teacher = client_for(app, world.teacher)
    data = pdf_of(teacher, reference)
    text = pdf_text(data)
    assert "Smiling 😀, thumbs up \ufffd from \ufffd\ufffd\ufffd\ufffd." in text
    said = " ".join(text.split())
    assert "Some characters cannot be shown in this PDF and appear as \ufffd." in said
    assert "Right-to-left text (such as Arabic or Hebrew) is shown letter by letter" in said
    assert "The exact text is in the attached file content.json and on the copy's page" in said
    assert answer in embedded_content(data)["answers"].values()  # type: ignore[operator]
    assert "👍 from 王小明" in teacher.get(copy_path(reference)).get_data(as_text=True)
    assert "👍" not in caplog.text and "王" not in caplog.text  # nothing of it in the log


def test_without_its_font_the_pdf_is_not_made_and_the_log_names_the_package(
    app: Flask,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    reference = send_a_version(app, world)
    monkeypatch.setattr(copy_pdf, "FONT_DIRECTORY", tmp_path)
    with caplog.at_level(logging.ERROR, logger=copy_pdf.__name__):
        response = client_for(app, world.teacher).get(copy_path(reference, pdf=True))
    assert response.status_code == 500
    assert "apt-get install fonts-dejavu-core" in caplog.text
    assert f"{tmp_path}/DejaVuSans.ttf" in caplog.text
