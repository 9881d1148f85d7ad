"""Reviewing version 2 shows what changed since version 1, starting from the part the council
asked about when it returned version 1: an answer changed (both values), a document removed
and one added (name and SHA-256), and "No changes" for the parts left alone. Reading version 1
to compare is a read of it, on the record (and opening version 1 compares with nothing, so
reads nothing more). The full version's parts nest under its heading; a version 1 that can no
longer be read says so instead of what changed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import MultiDict

from portal import create_app, db
from portal.audit import AuditAction
from portal.forms_catalogue import QuestionType
from portal.models import AuditEvent
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.integration import test_contribution_documents as documents
from tests.integration.test_contributions import TEMPLATE, answer_everything, section_form, send
from tests.support.confirming import confirm_if_asked
from tests.support.disarming import one_page_pdf
from tests.support.world import World, client_for, issue


@pytest.fixture
def app(
    engine: Engine, keyring_path: Path, audit_key_path: Path, connection: Connection, tmp_path: Path
) -> Iterator[Flask]:
    """The shared app with a file store for the documents; scanning is not what this tests
    (tests/integration/test_contribution_documents.py runs the real clamd)."""
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={"storage_directory": str(tmp_path / "files"), "scanner": "none"},
    )
    application = create_app(settings, check_database=False)
    db.database(application).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield application
    db.database(application).engine.dispose()


ASKED = TEMPLATE.sections[0]  # what the council asks the partner to look at again
TEXTS = next(s for s in TEMPLATE.sections if s.id == "safeguarding")  # the answer changed
NEW_ANSWER = "Since the return: she has told her teacher she is frightened at home"
FIRST_PDF, SECOND_PDF = one_page_pdf("Register, autumn"), one_page_pdf("Register, corrected")


def return_version_1(worker: FlaskClient, reference: str) -> None:
    page = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
    due = date.today() + timedelta(days=5)
    returned = worker.post(
        f"/requests/{reference}/versions/1/decision",
        data=MultiDict(
            [
                ("csrf_token", csrf_token(page)),
                ("decision", "returned"),
                ("sections", ASKED.id),
                ("reason", "Please check the attendance figures"),
                *[("new_due_on", str(part)) for part in (due.day, due.month, due.year)],
            ]
        ),
    )
    assert returned.status_code == 302, returned.get_data(as_text=True)[:1500]


def change_one_answer(teacher: FlaskClient, reference: str, children: list[str]) -> None:
    path = f"/inbox/{reference}/answer/{TEXTS.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    form = section_form(token, TEXTS, children, "continue")
    long_text = next(q for q in TEXTS.questions if q.type is QuestionType.LONG_TEXT)
    key = next(k for k in form if k.partition(":")[0] == long_text.id)
    form.setlist(key, [NEW_ANSWER])
    saved = teacher.post(path, data=form)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:1500]


def comparison_reads(db_session: Session) -> list[AuditEvent]:
    db_session.expire_all()
    return [
        event
        for event in db_session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value)
        )
        if "compared_with" in event.details
    ]


def send_version_2(app: Flask, world: World, db_session: Session) -> tuple[str, FlaskClient]:
    """Version 1 sent, opened by the worker (who sees nothing to compare, and no comparison is
    on the record) and returned; version 2 sent: (the request's reference, the worker)."""
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    confirm_if_asked(teacher, reference)
    children = [str(child.id) for child in world.case.children]
    assert documents.upload(teacher, reference, "register.pdf", FIRST_PDF).status_code == 302
    answer_everything(teacher, reference, children)
    assert send(teacher, reference).status_code == 302
    worker = client_for(app, world.worker)
    first = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
    assert "What changed" not in first  # version 1 has nothing to compare with
    assert comparison_reads(db_session) == []
    return_version_1(worker, reference)

    change_one_answer(teacher, reference, children)
    added = documents.upload(teacher, reference, "register-corrected.pdf", SECOND_PDF)
    assert added.status_code == 302
    assert send(teacher, reference).headers["Location"].endswith("/receipts/2")
    return reference, worker


def test_version_2_shows_what_changed_since_version_1(
    app: Flask, world: World, db_session: Session
) -> None:
    reference, worker = send_version_2(app, world, db_session)

    page = worker.get(f"/requests/{reference}/versions/2").get_data(as_text=True)

    assert "What changed since version 1" in page
    changes = page[page.index("What changed since version 1") : page.index("Version 2 in full")]
    cards = changes.split('class="govuk-summary-card"')[1:]
    assert ASKED.title in cards[0] and "You asked about this" in cards[0]
    assert "No changes" in cards[0]  # asked about, left alone: the reviewer is told
    text_card = next(card for card in cards if TEXTS.title in card)
    assert "Changed" in text_card and NEW_ANSWER in text_card
    assert "Was:" in text_card and "Now:" in text_card
    file_section = next(
        s for s in TEMPLATE.sections if any(q.type is QuestionType.FILE for q in s.questions)
    )
    file_card = next(card for card in cards if file_section.title in card)
    assert "Removed" in file_card and "register.pdf" in file_card
    assert "Added" in file_card and "register-corrected.pdf" in file_card
    assert hashlib.sha256(FIRST_PDF).hexdigest() in file_card
    assert hashlib.sha256(SECOND_PDF).hexdigest() in file_card
    unchanged = [s for s in TEMPLATE.sections if s not in (ASKED, TEXTS, file_section)]
    for section in unchanged:
        card = next(card for card in cards if escape(section.title) in card)
        assert "No changes" in card, section.id
    # Asked about first, then the changed parts, then the rest.
    changed_titles = {TEXTS.title, file_section.title}
    assert all(
        any(title in card for title in changed_titles)
        for card in cards[1 : 1 + len(changed_titles)]
    )

    compared = comparison_reads(db_session)
    assert [
        (e.details["version"], e.details["compared_with"], e.case_reference) for e in compared
    ] == [(1, 2, "NCC-555001")]
    # Version 2 in full: its parts are headings under its own.
    in_full = page[page.index("Version 2 in full") :]
    for section in TEMPLATE.sections:
        assert f'<h3 class="govuk-heading-s">{escape(section.title)}</h3>' in in_full, section.id
        assert f'<h2 class="govuk-heading-m">{escape(section.title)}</h2>' not in page


def test_a_version_1_that_can_no_longer_be_read_is_said_to_be(
    app: Flask, world: World, db_session: Session
) -> None:
    from portal.crypto.shredding import shred_data_keys
    from portal.models import Contribution, DelegationRequest

    reference, worker = send_version_2(app, world, db_session)
    first = db_session.scalar(
        sa.select(Contribution)
        .join(DelegationRequest, DelegationRequest.id == Contribution.request_id)
        .where(DelegationRequest.reference == reference, Contribution.version == 1)
    )
    assert first is not None and first.data_key_id is not None
    assert shred_data_keys(db_session, [first.data_key_id], datetime.now(UTC)) == 1
    db_session.commit()

    response = worker.get(f"/requests/{reference}/versions/2")

    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:1500]
    assert "Version 1 can no longer be read, so what changed cannot be shown." in page
    assert "What changed since version 1" not in page
    assert NEW_ANSWER in page  # version 2 itself, in full
    assert comparison_reads(db_session) == []  # nothing of version 1 was read
