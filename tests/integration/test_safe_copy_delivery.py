"""Documents reach the CMS as their safe copies, over real HTTP to the reference CMS: a Word
document goes as the PDF the disarm worker rebuilt ("Report.docx" as "Report.pdf"), under the
safe copy's type, size and digest; a delivery waits while a document is being made safe and
stops, with an explanation an administrator can act on, when one could not be made safe;
`deliver_to_cms = "original"` sends what the partner sent."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.documents import docx
from portal import db
from portal.attachments import NoScanner, store_upload
from portal.audit import SYSTEM
from portal.config import Settings
from portal.connector.factory import adapter_for
from portal.connector.outbox import FAILURE_EXPLANATIONS, retry
from portal.connector.payload import SafeCopyFailed, SafeCopyPending
from portal.connector.worker import DeliveryWorker
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import OutboxStatus
from portal.models import Attachment, Contribution, OutboxMessage, SafeCopyStatus
from tests.integration.test_connector_children import HARTS, family
from tests.support.disarming import make_safe_copies
from tests.support.families import own_reference_cms, settings_with

DOCX = docx(["Attendance since September: 82%"])
WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def cms(tmp_path: Path) -> Iterator[ReferenceCms]:
    with own_reference_cms(tmp_path) as running:
        yield running


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms, tmp_path: Path
) -> Settings:
    return settings_with(engine, keyring_path, audit_key_path, cms, tmp_path)


def accepted_with_a_word_document(
    db_session: Session, keyring: FileKeyring, settings: Settings
) -> tuple[OutboxMessage, Attachment]:
    """An accepted contribution about the Harts with "Report.docx" for the case, as uploaded:
    its safe copy not made yet."""
    harts = family(db_session, keyring, settings, "NCC-100234", HARTS)
    message = harts.accepted_about_the_children()
    contribution = db_session.get_one(Contribution, message.contribution_id)
    report = store_upload(
        io.BytesIO(DOCX),
        filename="Report.docx",
        answer_key="attendance-report",
        contribution=contribution,
        uploader_id=harts.lead.id,
        session=db_session,
        cipher=RecordCipher(keyring, db_session),
        keyring=keyring,
        settings=settings.attachments,
        scanner=NoScanner(),
    )
    db_session.commit()
    assert report.content_type == WORD and report.safe_status == SafeCopyStatus.PENDING
    return message, report


def deliver(app: Flask, settings: Settings, keyring: FileKeyring) -> tuple[int, int, int]:
    adapter = adapter_for(settings.cms)
    worker = DeliveryWorker(db.database(app).sessions, adapter, settings, keyring, name="t")
    counts = worker.deliver_due()
    adapter.close()
    return counts.delivered, counts.retrying, counts.dead_lettered


def due_now(db_session: Session, message: OutboxMessage) -> None:
    retry(db_session, message.id, SYSTEM)
    db_session.commit()


def case_documents(cms: ReferenceCms, message: OutboxMessage) -> list[dict[str, Any]]:
    assert message.cms_record_id is not None
    documents: list[dict[str, Any]] = cms.received(message.cms_record_id)["documents"]
    return documents


def test_a_word_document_is_delivered_as_its_safe_copy_once_it_is_made(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    message, report = accepted_with_a_word_document(db_session, keyring, settings)

    assert deliver(app, settings, keyring) == (0, 1, 0)  # waits for the safe copy
    db_session.refresh(message)
    assert message.status == OutboxStatus.PENDING
    assert message.last_error == "document_being_made_safe: 1 documents"
    assert FAILURE_EXPLANATIONS[SafeCopyPending.CODE].startswith("A document is still being")

    assert make_safe_copies(app).ready == 1
    due_now(db_session, message)
    assert deliver(app, settings, keyring) == (1, 0, 0)
    db_session.refresh(message)
    db_session.refresh(report)
    [document] = case_documents(cms, message)
    content = base64.b64decode(document["content_base64"])
    assert (document["filename"], document["content_type"]) == ("Report.pdf", "application/pdf")
    assert content.startswith(b"%PDF") and content != DOCX
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert bytes.fromhex(document["sha256"]) == report.safe_sha256
    assert len(content) == report.safe_size_bytes


def test_a_document_that_could_not_be_made_safe_stops_the_delivery_until_originals_are_sent(
    app: Flask, db_session: Session, settings: Settings, keyring: FileKeyring, cms: ReferenceCms
) -> None:
    message, report = accepted_with_a_word_document(db_session, keyring, settings)
    db_session.execute(
        sa.update(Attachment)
        .where(Attachment.id == report.id)
        .values(safe_status=SafeCopyStatus.FAILED, safe_failure="too_many_pages")
    )
    db_session.commit()

    assert deliver(app, settings, keyring) == (0, 0, 1)
    db_session.refresh(message)
    assert message.status == OutboxStatus.DEAD_LETTERED
    assert message.last_error == "document_not_made_safe: 1 documents (too_many_pages)"
    explanation = FAILURE_EXPLANATIONS[SafeCopyFailed.CODE]
    assert 'deliver_to_cms to "original"' in explanation and "cancel" in explanation

    originals = settings.model_copy(
        update={
            "attachments": settings.attachments.model_copy(update={"deliver_to_cms": "original"})
        }
    )
    due_now(db_session, message)
    assert deliver(app, originals, keyring) == (1, 0, 0)
    db_session.refresh(message)
    [document] = case_documents(cms, message)
    assert (document["filename"], document["content_type"]) == ("Report.docx", WORD)
    assert base64.b64decode(document["content_base64"]) == DOCX
