"""Documents on answers: uploaded through the answer page into the encrypted store past a real
clamd, refused when infected, counted in the receipt, made safe by the disarm worker, and
downloaded by the council (audited): the safe copy, or the original with a reason."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.audit import AuditAction
from portal.models import Attachment, AuditEvent, Contribution
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.integration.test_contributions import TEMPLATE, answer_everything, send
from tests.support.clamd import Clamd, eicar
from tests.support.confirming import confirm_if_asked
from tests.support.disarming import make_safe_copies, one_page_pdf
from tests.support.world import World, client_for, issue

PDF = one_page_pdf()
PNG_HEADER_ONLY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 300


@pytest.fixture
def app(  # the shared app, with a file store and the real clamd
    engine: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    connection: Connection,
    tmp_path: Path,
    clamd: Clamd,
) -> Iterator[Flask]:
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={
            "storage_directory": str(tmp_path / "files"),
            "clamd_socket": str(clamd.socket_path),
        },
    )
    application = create_app(settings, check_database=False)
    db.database(application).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield application
    db.database(application).engine.dispose()


def file_question() -> tuple[str, str]:
    for section in TEMPLATE.sections:
        for question in section.questions:
            if question.type.value == "file" and not question.per_child:
                return section.id, question.id
    raise AssertionError("the school template has a documents question")


def upload(client, reference: str, name: str, content: bytes):  # type: ignore[no-untyped-def]
    section_id, key = file_question()
    confirm_if_asked(client, reference)  # the children first, then the questions
    page = client.get(f"/inbox/{reference}/answer/{section_id}").get_data(as_text=True)
    return client.post(
        f"/inbox/{reference}/answer/{section_id}/files/{key}",
        data={"csrf_token": csrf_token(page), "file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_a_document_is_stored_encrypted_and_downloaded_by_the_council(
    app: Flask, world: World, db_session: Session, tmp_path: Path
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    added = upload(teacher, reference, "attendance-letter.pdf", PDF)
    assert added.status_code == 302 and "added=clean" in added.headers["Location"]
    page = teacher.get(added.headers["Location"]).get_data(as_text=True)
    assert "attendance-letter.pdf" in page and "was checked for viruses" in page
    assert "Being made safe" in page
    stored = list((tmp_path / "files").iterdir())
    assert len(stored) == 1 and b"/Catalog" not in stored[0].read_bytes()

    answer_everything(teacher, reference, [str(c.id) for c in world.case.children])
    check = teacher.get(f"/inbox/{reference}/answer/check").get_data(as_text=True)
    assert "attendance-letter.pdf" in check  # what will be sent, documents included
    sent = send(teacher, reference)
    assert sent.status_code == 302
    receipt = json.loads(
        teacher.get(f"/inbox/{reference}/receipts/1/download").get_data(as_text=True)
    )
    assert receipt["sha256"]

    worker = client_for(app, world.worker)
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None and attachment.sha256 is not None
    review = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
    assert "attendance-letter.pdf" in review and "Being made safe" in review
    safe_copy = f"/requests/{reference}/versions/1/files/{attachment.id}"
    waiting = worker.get(safe_copy)
    assert waiting.status_code == 409 and "is being made safe" in waiting.get_data(as_text=True)

    assert make_safe_copies(app).ready == 1
    review = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
    assert "Safe copy ready" in review and "Download the original" in review
    assert sorted(path.name for path in (tmp_path / "files").iterdir()) == [
        f"{attachment.id}.pdsf",
        f"{attachment.id}.safe.pdsf",
    ]
    with worker.get(safe_copy) as download:
        assert download.status_code == 200 and download.mimetype == "application/pdf"
        assert download.data.startswith(b"%PDF") and download.data != PDF
        assert b"/Font" not in download.data  # rebuilt from pictures of its pages
        assert "attendance-letter.pdf" in download.headers["Content-Disposition"]
    assert last_download(db_session, AuditAction.ATTACHMENT_DOWNLOADED).actor_user_id == (
        world.worker.id
    )
    # Another team's worker gets nothing, safe copy or original.
    other = client_for(app, world.other_worker)
    assert other.get(safe_copy).status_code == 404
    assert other.get(f"{safe_copy}/original").status_code == 404


def last_download(session: Session, action: AuditAction) -> AuditEvent:
    session.expire_all()
    events = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action.value).order_by(AuditEvent.seq)
    ).all()
    assert events, action
    return events[-1]


def test_the_original_is_downloaded_only_with_a_reason_on_the_record(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    upload(teacher, reference, "Attendance report.pdf", PDF)
    answer_everything(teacher, reference, [str(c.id) for c in world.case.children])
    send(teacher, reference)
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None
    original = f"/requests/{reference}/versions/1/files/{attachment.id}/original"

    worker = client_for(app, world.worker)
    form = worker.get(original).get_data(as_text=True)
    assert "Why do you need the original?" in form
    assert "Attendance report" not in form  # nothing of it before the download on the record
    refused = worker.post(original, data={"csrf_token": csrf_token(form)})
    assert refused.status_code == 400
    assert "Select why you need the original" in refused.get_data(as_text=True)
    made_up = worker.post(original, data={"csrf_token": csrf_token(form), "reason": "curious"})
    assert made_up.status_code == 400
    db_session.expire_all()
    assert not db_session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.action == AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED.value
        )
    ).all()

    with worker.post(
        original, data={"csrf_token": csrf_token(form), "reason": "legal_evidence"}
    ) as download:
        assert download.status_code == 200 and download.data == PDF
        assert "Attendance%20report.pdf" in download.headers["Content-Disposition"]
    event = last_download(db_session, AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED)
    assert event.actor_user_id == world.worker.id and event.object_id == str(attachment.id)
    assert event.details == {"request": reference, "version": 1, "reason": "legal_evidence"}
    # The partner never downloads from the council's side.
    assert teacher.get(original).status_code in (403, 404)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("report.pdf", lambda: eicar(), "The selected file contains a virus"),
        ("report.pdf", lambda: b"MZ\x90\x00" + b"\x00" * 200, "The selected file must be a"),
        ("empty.pdf", lambda: b"", "The selected file is empty"),
    ],
)
def test_a_refused_document_is_explained_and_leaves_nothing(
    app: Flask,
    world: World,
    db_session: Session,
    tmp_path: Path,
    name: str,
    content,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    refused = upload(teacher, reference, name, content())
    assert refused.status_code == 302 and "refused=" in refused.headers["Location"]
    page = teacher.get(refused.headers["Location"]).get_data(as_text=True)
    assert "govuk-error-summary" in page and message in page
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert not (tmp_path / "files").exists() or not list((tmp_path / "files").iterdir())
    refusals = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.ATTACHMENT_REFUSED.value)
    ).all()
    assert refusals


def test_a_document_can_be_removed_before_sending(
    app: Flask, world: World, db_session: Session, tmp_path: Path
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    added = upload(teacher, reference, "letter.pdf", PDF)
    page = teacher.get(added.headers["Location"]).get_data(as_text=True)
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None
    section_id, _key = file_question()
    removed = teacher.post(
        f"/inbox/{reference}/answer/{section_id}/files/{attachment.id}/remove",
        data={"csrf_token": csrf_token(page)},
    )
    assert removed.status_code == 302
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert not list((tmp_path / "files").iterdir())
    assert db_session.scalar(sa.select(Contribution)) is not None  # the draft stays


def test_withdrawing_shreds_the_drafts_documents(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    upload(teacher, reference, "letter.pdf", PDF)
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    worker.post(f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": "Closed"})
    db_session.expire_all()
    attachment = db_session.get(Attachment, attachment.id)
    assert attachment is not None and attachment.data_key is not None
    assert attachment.data_key.wrapped_key is None  # unreadable for good
    assert worker.get(f"/requests/{reference}/versions/1/files/{attachment.id}").status_code == 404


def test_a_document_that_could_not_be_made_safe_is_reached_only_as_its_original(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    # A PNG's signature and header, then nothing sound: accepted by type, unreadable to rebuild.
    added = upload(teacher, reference, "photo.png", PNG_HEADER_ONLY)
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None

    counts = make_safe_copies(app)  # a draft's documents are made safe too
    assert (counts.ready, counts.failed) == (0, 1)
    section = teacher.get(added.headers["Location"]).get_data(as_text=True)
    assert "Could not be made safe" in section
    assert "Save it as a PDF and attach it again" in section  # what the partner can do
    answer_everything(teacher, reference, [str(c.id) for c in world.case.children])
    send(teacher, reference)
    worker = client_for(app, world.worker)
    review = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
    assert "Could not be made safe" in review and "Download the original" in review
    assert "Save it as a PDF" not in review  # the hint is the partner's
    # When it was sent, in UK time, GOV.UK style.
    assert re.search(r"Sent \d{1,2} [A-Z][a-z]+ \d{4} at \d{1,2}:\d{2}(am|pm)\.", review)
    safe_copy = f"/requests/{reference}/versions/1/files/{attachment.id}"
    assert f'href="{safe_copy}"' not in review  # no link to a safe copy there is not
    refused = worker.get(safe_copy)
    assert refused.status_code == 409 and "could not be made safe" in refused.get_data(as_text=True)
