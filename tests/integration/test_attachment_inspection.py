"""The portal's own inspection, through the real upload page with a real clamd: every hostile
document is refused with its own reason code and message, leaves no file, no row and no data
key, and puts an attachment_refused event with that code on the record; documents made as
office suites make them (zipfile, and LibreOffice itself) are still accepted."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from markupsafe import escape
from sqlalchemy.orm import Session

from portal.attachments.refusals import INSPECTION_MESSAGES, LEGACY_OFFICE
from portal.audit import AuditAction
from portal.models import Attachment, AuditEvent, DataKey
from tests.factories import csrf_token
from tests.integration.test_attachments import BOUNDARY, multipart
from tests.integration.test_contribution_documents import app, file_question
from tests.support.confirming import confirm_if_asked
from tests.support.hostile_files import HOSTILE, real_docx, real_odt, real_xlsx
from tests.support.ole2_files import ole2
from tests.support.world import World, client_for, issue

__all__ = ["app"]  # the documents tests' app: a file store and the real clamd


def upload(client, reference: str, name: str, content: bytes):  # type: ignore[no-untyped-def]
    """The answer page's upload, its body made here: the test client would spool a large one
    to a temporary file of its own (and leave it open)."""
    section_id, key = file_question()
    confirm_if_asked(client, reference)
    page = client.get(f"/inbox/{reference}/answer/{section_id}").get_data(as_text=True)
    body = multipart([("csrf_token", csrf_token(page))], ("file", name, content))
    return client.post(
        f"/inbox/{reference}/answer/{section_id}/files/{key}",
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def counts(db_session: Session) -> tuple[int, int]:
    db_session.expire_all()
    attachments = db_session.scalar(sa.select(sa.func.count()).select_from(Attachment))
    keys = db_session.scalar(sa.select(sa.func.count()).select_from(DataKey))
    return attachments or 0, keys or 0


def refusal_reasons(db_session: Session) -> list[str]:
    events = db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == AuditAction.ATTACHMENT_REFUSED.value)
        .order_by(AuditEvent.seq)
    ).all()
    return [event.details["reason"] for event in events]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_document_is_refused_with_its_own_reason_and_leaves_nothing(
    app: Flask, world: World, db_session: Session, tmp_path: Path, name: str
) -> None:
    build, reason = HOSTILE[name]
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    before = counts(db_session)
    refused = upload(teacher, reference, "report.docx", build())
    assert refused.status_code == 302
    assert f"refused={reason}&" in refused.headers["Location"]
    page = teacher.get(refused.headers["Location"]).get_data(as_text=True)
    assert "govuk-error-summary" in page
    assert str(escape(INSPECTION_MESSAGES[reason])) in page  # as Jinja escapes it
    assert counts(db_session) == before  # no attachment row, no data key
    files = tmp_path / "files"
    assert not files.exists() or not list(files.iterdir())  # not even a partial file
    assert refusal_reasons(db_session) == [reason]


def test_legacy_office_files_are_refused_whatever_they_are_called(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    for name, content in [("minutes.doc", ole2("WordDocument")), ("a.xls", ole2("Workbook"))]:
        refused = upload(teacher, reference, name, content)
        assert f"refused={LEGACY_OFFICE}&" in refused.headers["Location"]
    page = teacher.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Save it as a .docx, .xlsx or PDF" in page
    assert refusal_reasons(db_session) == [LEGACY_OFFICE, LEGACY_OFFICE]


@pytest.mark.parametrize(
    ("name", "build"),
    [("letter.docx", real_docx), ("register.xlsx", real_xlsx), ("notes.odt", real_odt)],
)
def test_documents_as_office_suites_write_them_are_accepted(
    app: Flask, world: World, db_session: Session, name: str, build: Callable[[], bytes]
) -> None:
    reference = issue(app, world)
    added = upload(client_for(app, world.teacher), reference, name, build())
    assert added.status_code == 302 and "added=clean" in added.headers["Location"]
    assert counts(db_session)[0] == 1 and refusal_reasons(db_session) == []


def libreoffice() -> str:
    found = shutil.which("soffice")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice (soffice) is not installed")
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


@pytest.mark.parametrize(
    ("source", "kind"), [("notes.txt", "docx"), ("notes.txt", "odt"), ("register.csv", "xlsx")]
)
def test_documents_libreoffice_writes_are_accepted(
    app: Flask, world: World, db_session: Session, tmp_path: Path, source: str, kind: str
) -> None:
    soffice = libreoffice()
    work = tmp_path / "libreoffice"
    work.mkdir()
    (work / source).write_text("Attendance,Term\n92%,Spring\n", encoding="utf-8")
    profile = f"-env:UserInstallation={(work / 'profile').as_uri()}"
    subprocess.run(
        [
            soffice,
            profile,
            "--headless",
            "--convert-to",
            kind,
            "--outdir",
            str(work),
            str(work / source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    converted = (work / source).with_suffix(f".{kind}").read_bytes()
    reference = issue(app, world)
    added = upload(client_for(app, world.teacher), reference, f"converted.{kind}", converted)
    assert added.status_code == 302 and "added=clean" in added.headers["Location"]
    assert refusal_reasons(db_session) == []
