"""A partner answers a request and the social worker reviews it, through the real app."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.audit import AuditAction
from portal.audit.signing import PublicKey
from portal.contributions.receipts import canonical_content, verify_receipt
from portal.contributions.services import confirmations_of
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.forms_catalogue import FormTemplate, QuestionType, answer_keys, load_catalogue
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    AuditEvent,
    Contribution,
    DelegationRequest,
    Notification,
    NotificationKind,
    OutboxMessage,
    Review,
)
from tests.factories import csrf_token
from tests.support.confirming import confirm_if_asked
from tests.support.world import World, client_for, issue

TEMPLATE: FormTemplate = load_catalogue(
    __import__("portal.config", fromlist=["PROJECT_ROOT"]).PROJECT_ROOT / "config" / "forms"
).get("school-contribution", 1)
SECRET_ANSWER = "Zebra-7 arrived hungry on three mornings this week"


def answer_for(question: Any) -> Any:
    kind = question.type
    if kind is QuestionType.YES_NO:
        return "yes"
    if kind is QuestionType.DATE:
        return {"day": "3", "month": "11", "year": "2026"}
    if kind is QuestionType.SINGLE_CHOICE:
        return question.choices[0].value
    if kind is QuestionType.MULTIPLE_CHOICE:
        return [question.choices[0].value]
    if kind is QuestionType.NUMBER:
        return str(int(question.min or 1))
    return SECRET_ANSWER if kind is QuestionType.LONG_TEXT else "Noted"


def section_form(token: str, section: Any, children: list[str], action: str) -> MultiDict[str, str]:
    pairs = [("csrf_token", token), ("action", action)]
    for question in section.questions:
        if question.type is QuestionType.FILE:
            continue
        for key in answer_keys(question, children):
            value = answer_for(question)
            if isinstance(value, dict):
                pairs += [(f"{key}-{part}", value[part]) for part in ("day", "month", "year")]
            elif isinstance(value, list):
                pairs += [(key, item) for item in value]
            else:
                pairs.append((key, value))
    return MultiDict(pairs)


def request_row(session: Session, reference: str) -> DelegationRequest:
    session.expire_all()
    found = session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert found is not None
    return found


def answer_everything(client: FlaskClient, reference: str, children: list[str]) -> None:
    confirm_if_asked(client, reference)
    for section in TEMPLATE.sections:
        path = f"/inbox/{reference}/answer/{section.id}"
        token = csrf_token(client.get(path).get_data(as_text=True))
        saved = client.post(path, data=section_form(token, section, children, "continue"))
        assert saved.status_code == 302, saved.get_data(as_text=True)[:1500]


def send(client: FlaskClient, reference: str, token: str | None = None) -> Any:
    if token is None:
        page = client.get(f"/inbox/{reference}/answer/check").get_data(as_text=True)
        token = csrf_token(page)
    return client.post(
        f"/inbox/{reference}/answer/submit", data={"csrf_token": token, "declaration": "yes"}
    )


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    """A request issued to the school, whose teacher has confirmed it knows both children
    (tests/integration/test_child_confirmation.py tests that step itself)."""
    reference = issue(app, world)
    confirm_if_asked(client_for(app, world.teacher), reference)
    return reference


def children_of(world: World) -> list[str]:
    return [str(child.id) for child in world.case.children]


def test_a_draft_is_saved_encrypted_and_resumed(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
) -> None:
    teacher = client_for(app, world.teacher)
    first = teacher.get(f"/inbox/{sent}/answer")
    assert first.status_code == 302
    assert first.headers["Location"].endswith(f"/answer/{TEMPLATE.sections[0].id}")
    section = next(
        s for s in TEMPLATE.sections if any(q.type is QuestionType.LONG_TEXT for q in s.questions)
    )
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))

    later = teacher.post(path, data=section_form(token, section, children_of(world), "later"))
    assert later.status_code == 302 and "saved=1" in later.headers["Location"]
    request = request_row(db_session, sent)
    assert request.status == RequestStatus.IN_PROGRESS
    draft = db_session.scalar(sa.select(Contribution).where(Contribution.request_id == request.id))
    assert draft is not None and draft.status == ContributionStatus.DRAFT
    raw = db_session.execute(
        sa.text("SELECT answers_enc FROM contributions WHERE id = :id"), {"id": draft.id}
    ).scalar_one()
    assert SECRET_ANSWER.encode() not in raw
    assert SECRET_ANSWER in teacher.get(path).get_data(as_text=True)  # resumed
    # The question pages name the children: each showing is a read of their details.
    reads = db_session.scalars(
        sa.select(AuditEvent)
        .where(
            AuditEvent.action == AuditAction.CHILD_DETAILS_VIEWED.value,
            AuditEvent.actor_user_id == world.teacher.id,
        )
        .order_by(AuditEvent.seq)
    ).all()
    assert reads and reads[-1].case_reference == "NCC-555001"


def test_bad_answers_are_explained_and_not_saved(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
) -> None:
    teacher = client_for(app, world.teacher)
    numbered = next(
        (s, q) for s in TEMPLATE.sections for q in s.questions if q.type is QuestionType.NUMBER
    )
    section, question = numbered
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    form = section_form(token, section, children_of(world), "continue")
    key = answer_keys(question, children_of(world))[0]
    form.setlist(key, ["lots"])
    answer = teacher.post(path, data=form)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "govuk-error-summary" in html
    assert "Answer must be a number" in html
    request = request_row(db_session, sent)
    assert request.status == RequestStatus.ISSUED
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Contribution)) == 0


def test_sending_needs_the_declaration_and_every_required_answer(
    app: Flask,
    world: World,
    sent: str,
) -> None:
    teacher = client_for(app, world.teacher)
    section = TEMPLATE.sections[0]
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    teacher.post(path, data=MultiDict([("csrf_token", token), ("action", "later")]))
    page = teacher.get(f"/inbox/{sent}/answer/check").get_data(as_text=True)
    undeclared = teacher.post(f"/inbox/{sent}/answer/submit", data={"csrf_token": csrf_token(page)})
    assert undeclared.status_code == 400 and "Confirm the declaration" in undeclared.get_data(
        as_text=True
    )
    incomplete = send(teacher, sent)
    assert incomplete.status_code == 400
    assert "Some questions still need an answer" in incomplete.get_data(as_text=True)


def test_a_sent_version_has_a_receipt_that_verifies(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    keyring: FileKeyring,
) -> None:
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, sent, children_of(world))
    # Two tabs show the check page; both send.
    token = csrf_token(teacher.get(f"/inbox/{sent}/answer/check").get_data(as_text=True))
    answer = send(teacher, sent, token)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/receipts/1")
    page = teacher.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Answers sent" in page

    download = teacher.get(f"/inbox/{sent}/receipts/1/download")
    document = json.loads(download.get_data(as_text=True))
    key = PublicKey.from_pem(app.test_client().get("/.well-known/audit-checkpoint-key.pem").data)
    assert verify_receipt(document, key)
    forged = {**document, "sha256": "00" * 32}
    assert not verify_receipt(forged, key)

    request = request_row(db_session, sent)
    assert request.status == RequestStatus.SUBMITTED
    contribution = db_session.scalar(
        sa.select(Contribution).where(Contribution.request_id == request.id)
    )
    assert contribution is not None
    answers = RecordCipher(keyring, db_session).open_json(contribution, "answers_enc")
    confirmed = confirmations_of(db_session, request).values()  # part of what was sent
    content = canonical_content(request, contribution, answers, confirmed)
    digest = hashlib.sha256(content).hexdigest()
    assert document["sha256"] == digest

    again = send(teacher, sent, token)  # the second tab sends the same answers
    assert again.status_code == 409 and "already been sent" in again.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Contribution)) == 1


def test_return_resubmit_and_accept_queue_one_delivery(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
) -> None:
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, sent, children_of(world))
    assert send(teacher, sent).status_code == 302

    worker = client_for(app, world.worker)
    page = worker.get(f"/requests/{sent}/versions/1")
    assert page.status_code == 200 and SECRET_ANSWER in page.get_data(as_text=True)
    viewed = db_session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value)
        .order_by(AuditEvent.seq)
    ).all()
    assert viewed and viewed[-1].case_reference == "NCC-555001"
    token = csrf_token(page.get_data(as_text=True))
    missing = worker.post(
        f"/requests/{sent}/versions/1/decision", data={"csrf_token": token, "decision": "returned"}
    )
    assert missing.status_code == 400
    assert "Select the parts the partner should look at again" in missing.get_data(as_text=True)
    free_text = worker.post(
        f"/requests/{sent}/versions/1/decision",
        data={
            "csrf_token": token,
            "decision": "returned",
            "sections": "Amelia said something",
            "reason": "More please",
        },
    )
    assert free_text.status_code == 400  # only the template's parts, never free text
    due = __import__("datetime").date.today() + __import__("datetime").timedelta(days=5)
    returned = worker.post(
        f"/requests/{sent}/versions/1/decision",
        data=MultiDict(
            [
                ("csrf_token", token),
                ("decision", "returned"),
                ("sections", TEMPLATE.sections[0].id),
                ("reason", "Please add the attendance figures for October"),
                ("new_due_on", str(due.day)),
                ("new_due_on", str(due.month)),
                ("new_due_on", str(due.year)),
            ]
        ),
    )
    assert returned.status_code == 302, returned.get_data(as_text=True)[:1500]
    assert request_row(db_session, sent).status == RequestStatus.RETURNED

    # The partner starts from what they sent, and sends version 2.
    texts = next(
        s for s in TEMPLATE.sections if any(q.type is QuestionType.LONG_TEXT for q in s.questions)
    )
    assert SECRET_ANSWER in teacher.get(f"/inbox/{sent}/answer/{texts.id}").get_data(as_text=True)
    answer_everything(teacher, sent, children_of(world))
    assert send(teacher, sent).headers["Location"].endswith("/receipts/2")

    page = worker.get(f"/requests/{sent}/versions/2")
    token = csrf_token(page.get_data(as_text=True))
    accepted = worker.post(
        f"/requests/{sent}/versions/2/decision", data={"csrf_token": token, "decision": "accepted"}
    )
    assert accepted.status_code == 302
    request = request_row(db_session, sent)
    assert request.status == RequestStatus.ACCEPTED
    outbox = db_session.scalars(sa.select(OutboxMessage)).all()
    assert len(outbox) == 1 and outbox[0].idempotency_key.endswith("-v2")
    queued = {(n.kind, n.recipient_id) for n in db_session.scalars(sa.select(Notification)).all()}
    assert {
        (NotificationKind.CONTRIBUTION_SUBMITTED, world.worker.id),
        (NotificationKind.CONTRIBUTION_RETURNED, world.teacher.id),
        (NotificationKind.CONTRIBUTION_ACCEPTED, world.teacher.id),
    } <= queued

    late = worker.post(
        f"/requests/{sent}/versions/2/decision",
        data={"csrf_token": token, "decision": "rejected", "reason": "x"},
    )
    assert late.status_code == 409 and "already been made" in late.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Review)) == 2
    timeline = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "returned for more information" in timeline and "accepted" in timeline
    assert "read by the council" in timeline


def test_revoking_destroys_the_draft(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
) -> None:
    teacher = client_for(app, world.teacher)
    section = TEMPLATE.sections[0]
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    teacher.post(path, data=section_form(token, section, children_of(world), "later"))
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{sent}").get_data(as_text=True))
    worker.post(f"/requests/{sent}/revoke", data={"csrf_token": token, "reason": "Case closed"})
    db_session.expire_all()
    draft = db_session.scalar(sa.select(Contribution))
    assert draft is not None and draft.status == ContributionStatus.DISCARDED
    assert draft.answers_enc is None
    assert teacher.get(path).status_code == 410  # says it was withdrawn, nothing more


def test_a_lapsed_request_is_closed_and_its_draft_destroyed(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    from datetime import UTC, datetime, timedelta

    from click.testing import CliRunner

    from portal import cli

    teacher = client_for(app, world.teacher)
    section = TEMPLATE.sections[0]
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    teacher.post(path, data=section_form(token, section, children_of(world), "later"))
    request = request_row(db_session, sent)
    request.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.commit()
    assert teacher.get(path).status_code == 410  # closed for the partner at once

    runner = CliRunner()
    original = cli.base.create_app
    cli.base.create_app = lambda **_options: app  # type: ignore[assignment]
    try:
        result = runner.invoke(cli.cli, ["requests", "expire"])
    finally:
        cli.base.create_app = original  # type: ignore[assignment]
    assert result.exit_code == 0 and "Closed 1 lapsed requests" in result.output
    request = request_row(db_session, sent)
    assert request.status == RequestStatus.EXPIRED
    draft = db_session.scalar(sa.select(Contribution))
    assert draft is not None and draft.status == ContributionStatus.DISCARDED
    assert draft.answers_enc is None
    assert db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REQUEST_EXPIRED.value)
    ).all()
