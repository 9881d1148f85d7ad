"""The partner confirms each child before answering ("not this child"): what each side sees,
the e-mail, the audit events, and that nothing more of the children is shown once the partner
says it knows none of them. Through the real app on PostgreSQL, and a real SMTP server."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal.audit import AuditAction
from portal.audit.signing import CheckpointSigner, PublicKey
from portal.contributions import receipts
from portal.contributions.receipts import canonical_content, verify_receipt
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    ChildConfirmation,
    ChildKnown,
    Contribution,
    MatchedOn,
    Notification,
    NotificationKind,
    Role,
)
from portal.notifications.senders import SmtpSender
from portal.notifications.worker import send_due
from tests.factories import csrf_token, make_user
from tests.integration.test_contributions import (
    SECRET_ANSWER,
    TEMPLATE,
    answer_everything,
    request_row,
    section_form,
    send,
)
from tests.integration.test_notifications import (  # noqa: F401 - fixtures
    BASE_URL,
    SmtpServer,
    notification_settings,
    sessions,
    smtp_server,
)
from tests.integration.test_page_titles_and_ids import repeated_ids
from tests.support.audit_log import events
from tests.support.confirming import KNOWN, children_on_page, confirm_children
from tests.support.world import PURPOSE, World, client_for, issue

AMELIA, OLIVER = "Amelia Hart", "Oliver Hart"
NOT_KNOWN = ("not_known", None)
NOT_THIS_CHILD = ("not_this_child", None)


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    return issue(app, world)


def ids(world: World) -> tuple[str, str]:
    amelia, oliver = sorted(world.case.children, key=lambda child: child.position)
    return str(amelia.id), str(oliver.id)


def confirmations(session: Session, reference: str) -> dict[str, tuple[ChildKnown, Any]]:
    request = request_row(session, reference)
    rows = session.scalars(
        sa.select(ChildConfirmation).where(ChildConfirmation.request_id == request.id)
    )
    return {str(row.child_id): (row.answer, row.matched_on) for row in rows}


def per_child_section() -> Any:
    return next(s for s in TEMPLATE.sections if any(q.per_child for q in s.questions))


def draft_of(session: Session, reference: str) -> Contribution | None:
    request = request_row(session, reference)
    return session.scalar(sa.select(Contribution).where(Contribution.request_id == request.id))


# --- Before anything else, the children ---------------------------------------------------------


def test_every_answer_page_sends_the_partner_to_confirm_the_children_first(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    section = TEMPLATE.sections[0]
    for path in (
        f"/inbox/{sent}/answer",
        f"/inbox/{sent}/answer/{section.id}",
        f"/inbox/{sent}/answer/check",
    ):
        answer = teacher.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].endswith(
            f"/inbox/{sent}/children"
        ), path
    token = csrf_token(teacher.get(f"/inbox/{sent}").get_data(as_text=True))
    posted = teacher.post(
        f"/inbox/{sent}/answer/{section.id}",
        data=section_form(token, section, list(ids(world)), "continue"),
    )
    assert posted.headers["Location"].endswith("/children")
    submitted = teacher.post(
        f"/inbox/{sent}/answer/submit", data={"csrf_token": token, "declaration": "yes"}
    )
    assert submitted.headers["Location"].endswith("/children")
    assert draft_of(db_session, sent) is None  # nothing about the children was taken

    page = teacher.get(f"/inbox/{sent}/children")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Confirm the children" in html
    assert AMELIA in html and "14 March 2015" in html and OLIVER in html
    assert "the request closes and nothing is shared" in html
    assert children_on_page(html) == list(ids(world))
    # The request's page says what is still to do, with the way to do it.
    show = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "Not confirmed yet" in show and f"/inbox/{sent}/children" in show


def test_confirming_every_child_then_answering_for_them(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    saved = confirm_children(teacher, sent, {oliver: ("known", "name_and_date_of_birth")})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/inbox/{sent}/answer")
    assert confirmations(db_session, sent) == {
        amelia: (ChildKnown.KNOWN, MatchedOn.NAME_AND_DATE_OF_BIRTH),
        oliver: (ChildKnown.KNOWN, MatchedOn.NAME_AND_DATE_OF_BIRTH),
    }
    (event,) = events(db_session, AuditAction.CHILDREN_CONFIRMED)
    assert event.actor_user_id == world.teacher.id and event.object_id == sent
    assert event.case_reference == "NCC-555001"
    assert event.details == {
        "known": 2,
        "not_known": 0,
        "not_this_child": 0,
        "matched_on": "name_and_date_of_birth",
    }
    # The questions are asked about both, and both are in what is sent.
    page = teacher.get(f"/inbox/{sent}/answer/{per_child_section().id}").get_data(as_text=True)
    assert f"– {AMELIA}" in page and f"– {OLIVER}" in page
    show = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "You hold a record for this child (matched on name and date of birth)" in show
    answer_everything(teacher, sent, [amelia, oliver])
    check = teacher.get(f"/inbox/{sent}/answer/check").get_data(as_text=True)
    assert check.count("You hold a record for this child") == 2
    assert send(teacher, sent).status_code == 302


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({}, "known-{amelia}", "Select whether you hold a record for Amelia Hart"),
        ({"known-{amelia}": "maybe"}, "known-{amelia}", "Select whether you hold a record"),
        ({"known-{amelia}": "known"}, "matched-{amelia}", "Select what you matched Amelia Hart on"),
        # A UPN was offered for neither child: neither has one in this test.
        (
            {"known-{amelia}": "known", "matched-{amelia}": "upn"},
            "matched-{amelia}",
            "Select one of the ways shown for this child",
        ),
        (
            {"known-{amelia}": "known", "matched-{amelia}": "fingerprints"},
            "matched-{amelia}",
            "Select one of the ways shown for this child",
        ),
        # A child id the page did not name (tampered with), as well as the real two.
        (
            {"known-{amelia}": "not_known", "known-{stranger}": "known"},
            "known-{amelia}",
            "Answer only for the children this page names",
        ),
    ],
    ids=["nothing", "unknown-choice", "no-match", "upn-not-offered", "odd-match", "tampered"],
)
def test_bad_confirmations_are_explained_on_the_field_and_nothing_is_saved(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    names = {"amelia": amelia, "stranger": str(uuid.uuid4())}
    token = csrf_token(teacher.get(f"/inbox/{sent}/children").get_data(as_text=True))
    data = {"csrf_token": token, f"known-{oliver}": "not_this_child"}
    data |= {key.format(**names): value for key, value in form.items()}
    answer = teacher.post(f"/inbox/{sent}/children", data=data)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert "govuk-error-summary" in html and html.startswith("<!DOCTYPE html>")
    assert "<title>Error: " in html
    target = field.format(**names)
    assert f'href="#{target}"' in html  # the summary links to the field
    assert f'id="{target}-error"' in html and message in html  # the message is on it
    assert confirmations(db_session, sent) == {}
    assert events(db_session, AuditAction.CHILDREN_CONFIRMED) == []
    assert request_row(db_session, sent).status == RequestStatus.ISSUED


# --- One of two siblings ------------------------------------------------------------------------


def test_one_sibling_not_known_answers_continue_for_the_other_only(
    app: Flask, world: World, sent: str, db_session: Session, keyring: FileKeyring
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    saved = confirm_children(teacher, sent, {oliver: NOT_KNOWN})
    assert saved.headers["Location"].endswith("/answer")  # no second step: one is known
    (event,) = events(db_session, AuditAction.CHILDREN_CONFIRMED)
    assert (event.details["known"], event.details["not_known"]) == (1, 1)
    assert OLIVER not in json.dumps(event.details) and AMELIA not in json.dumps(event.details)

    section = per_child_section()
    path = f"/inbox/{sent}/answer/{section.id}"
    page = teacher.get(path).get_data(as_text=True)
    assert f"– {AMELIA}" in page and f"– {OLIVER}" not in page  # not asked about Oliver
    # Posting answers about Oliver anyway (the keys are easy to guess) is refused.
    token = csrf_token(page)
    about_both = section_form(token, section, [amelia, oliver], "continue")
    refused = teacher.post(path, data=about_both)
    assert refused.status_code == 400
    assert "Answer only about the children you said you hold a record for" in refused.get_data(
        as_text=True
    )
    assert draft_of(db_session, sent) is None

    answer_everything(teacher, sent, [amelia])
    assert send(teacher, sent).status_code == 302
    contribution = draft_of(db_session, sent)
    assert contribution is not None and contribution.status == ContributionStatus.SUBMITTED
    keys = RecordCipher(keyring, db_session).open_json(contribution, "answers_enc")
    assert any(key.endswith(amelia) for key in keys)
    assert not any(oliver in key for key in keys)

    # The council sees what the partner said about each, with the answers about Amelia only.
    worker = client_for(app, world.worker)
    request_page = worker.get(f"/requests/{sent}").get_data(as_text=True)
    assert "Ashby Lane Primary does not know this child" in request_page
    assert (
        "Ashby Lane Primary holds a record for this child (matched on name and date of birth)"
        in (request_page)
    )
    review = worker.get(f"/requests/{sent}/versions/1").get_data(as_text=True)
    assert "Ashby Lane Primary does not know this child" in review
    assert f"– {AMELIA}" in review and f"– {OLIVER}" not in review


def test_a_child_the_partner_does_not_know_is_no_longer_shown_with_its_identifier(
    app: Flask, world: World, sent: str, db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    for child, upn in zip(
        sorted(world.case.children, key=lambda child: child.position),
        ("H801210119341", "V801210121342"),
        strict=True,
    ):
        cipher.seal_text(child, "upn_enc", upn)
    db_session.commit()
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    confirm_children(teacher, sent, {oliver: NOT_THIS_CHILD})

    request_page = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "H801210119341" in request_page and "V801210121342" not in request_page
    # While it can still change its answer, the school checks him against its records again.
    assert "V801210121342" in teacher.get(f"/inbox/{sent}/children").get_data(as_text=True)
    answer_everything(teacher, sent, [amelia])
    for page in ("/answer/check", "/receipts/1", "", "/children"):
        if page == "/receipts/1":
            assert send(teacher, sent).status_code == 302
        html = teacher.get(f"/inbox/{sent}{page}").get_data(as_text=True)
        assert "V801210121342" not in html, page
        assert "H801210119341" in html, page
    # The council still sees every identifier the CMS holds.
    council = client_for(app, world.worker).get(f"/requests/{sent}").get_data(as_text=True)
    assert "V801210121342" in council


def test_what_a_partner_said_but_never_sent_is_not_the_councils_to_see(
    app: Flask, world: World, sent: str
) -> None:
    teacher = client_for(app, world.teacher)
    confirm_children(teacher, sent, {ids(world)[1]: NOT_KNOWN})
    worker = client_for(app, world.worker)
    page = worker.get(f"/requests/{sent}").get_data(as_text=True)
    token = csrf_token(page)
    assert "does not know this child" not in page  # the partner may still change it
    withdrawn = worker.post(
        f"/requests/{sent}/revoke", data={"csrf_token": token, "reason": "Case closed"}
    )
    assert withdrawn.status_code == 302
    after = worker.get(f"/requests/{sent}").get_data(as_text=True)
    assert "Withdrawn" in after
    assert "does not know this child" not in after and "holds a record" not in after


def test_a_child_no_longer_known_takes_the_answers_about_them_out_of_the_draft(
    app: Flask, world: World, sent: str, db_session: Session, keyring: FileKeyring
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    confirm_children(teacher, sent)
    section = per_child_section()
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    teacher.post(path, data=section_form(token, section, [amelia, oliver], "later"))
    confirm_children(teacher, sent, {oliver: NOT_THIS_CHILD})
    draft = draft_of(db_session, sent)
    assert draft is not None and draft.status == ContributionStatus.DRAFT
    keys = RecordCipher(keyring, db_session).open_json(draft, "answers_enc")
    assert keys and not any(oliver in key for key in keys)
    assert any(amelia in key for key in keys)
    assert confirmations(db_session, sent)[oliver] == (ChildKnown.NOT_THIS_CHILD, None)
    assert len(events(db_session, AuditAction.CHILDREN_CONFIRMED)) == 2


# --- None of them -------------------------------------------------------------------------------


def close_request(teacher: FlaskClient, reference: str, world: World) -> Any:
    amelia, oliver = ids(world)
    chosen = {amelia: NOT_KNOWN, oliver: NOT_THIS_CHILD}
    second_step = confirm_children(teacher, reference, chosen)
    return second_step, confirm_children(teacher, reference, chosen, close=True)


def test_knowing_none_asks_again_then_closes_the_request_and_shares_nothing(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    keyring: FileKeyring,
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    # A draft first, from when the school thought it knew them.
    confirm_children(teacher, sent)
    section = TEMPLATE.sections[0]
    path = f"/inbox/{sent}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    teacher.post(path, data=section_form(token, section, [amelia, oliver], "later"))

    second_step, closed = close_request(teacher, sent, world)
    # The first press only asks: nothing is saved until the partner confirms closing.
    html = second_step.get_data(as_text=True)
    assert second_step.status_code == 200 and "You do not know any of the children" in html
    assert "the request closes and nothing is shared" in html
    assert closed.status_code == 302 and closed.headers["Location"].endswith(f"/inbox/{sent}")

    request = request_row(db_session, sent)
    assert request.status == RequestStatus.CHILD_NOT_KNOWN and request.closed_at is not None
    draft = draft_of(db_session, sent)
    assert draft is not None and draft.status == ContributionStatus.DISCARDED
    assert draft.answers_enc is None
    assert confirmations(db_session, sent) == {
        amelia: (ChildKnown.NOT_KNOWN, None),
        oliver: (ChildKnown.NOT_THIS_CHILD, None),
    }
    confirmed = events(db_session, AuditAction.CHILDREN_CONFIRMED)
    assert len(confirmed) == 2  # the first (both known), then this one
    assert confirmed[-1].details == {
        "known": 0,
        "not_known": 1,
        "not_this_child": 1,
        "matched_on": None,
    }
    (closing,) = events(db_session, AuditAction.REQUEST_CLOSED_CHILD_NOT_KNOWN)
    assert closing.object_id == sent and closing.actor_user_id == world.teacher.id
    assert closing.case_reference == "NCC-555001" and closing.details == {"children": 2}
    assert closing.seq > confirmed[-1].seq
    queued = db_session.scalars(
        sa.select(Notification).where(Notification.request_id == request.id)
    ).all()
    assert {(n.kind, n.recipient_id) for n in queued} >= {
        (NotificationKind.CHILD_NOT_KNOWN, world.worker.id)
    }


def test_after_closing_the_partner_sees_nothing_of_the_children(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    close_request(teacher, sent, world)
    page = teacher.get(f"/inbox/{sent}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "This request is closed" in html and "Closed: child not known" in html
    for secret in (AMELIA, OLIVER, "Hart", "14 March 2015", PURPOSE, "Answer the questions"):
        assert secret not in html
    # The answer pages refuse: each goes back to the closed request's page.
    for path in (
        f"/inbox/{sent}/children",
        f"/inbox/{sent}/answer",
        f"/inbox/{sent}/answer/{TEMPLATE.sections[0].id}",
        f"/inbox/{sent}/answer/check",
    ):
        answer = teacher.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].endswith(
            f"/inbox/{sent}"
        ), path
    token = csrf_token(html) if 'name="csrf_token"' in html else ""
    again = teacher.post(
        f"/inbox/{sent}/children",
        data={"csrf_token": token, **{f"known-{child}": "known" for child in ids(world)}},
    )
    assert again.status_code == 302 and request_row(db_session, sent).status == (
        RequestStatus.CHILD_NOT_KNOWN
    )
    assert teacher.get(f"/inbox/{sent}/receipts/1").status_code == 404
    # The inbox lists it as closed.
    inbox = teacher.get("/inbox").get_data(as_text=True)
    assert sent in inbox and "Closed: child not known" in inbox


def test_a_closed_request_cannot_be_passed_to_a_colleague(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    lead = client_for(app, world.lead)
    token = csrf_token(lead.get(f"/inbox/{sent}").get_data(as_text=True))
    close_request(client_for(app, world.teacher), sent, world)
    refused = lead.post(
        f"/inbox/{sent}/route", data={"csrf_token": token, "colleague": str(world.colleague.id)}
    )
    assert refused.status_code == 400
    assert "there is nothing to pass on" in refused.get_data(as_text=True)
    assert request_row(db_session, sent).named_recipient_id is None
    assert events(db_session, AuditAction.REQUEST_ROUTED) == []


def test_the_council_sees_the_partner_knows_none_of_them(
    app: Flask, world: World, sent: str
) -> None:
    close_request(client_for(app, world.teacher), sent, world)
    worker = client_for(app, world.worker)
    page = worker.get(f"/requests/{sent}").get_data(as_text=True)
    assert "Closed: child not known" in page
    assert "Ashby Lane Primary does not know the child or children this request names" in page
    assert "nothing was shared" in page
    assert "Ashby Lane Primary does not know this child" in page
    assert "Ashby Lane Primary says this is not the child it knows" in page
    assert "Withdraw this request" not in page  # closed: nothing left to change
    dashboard = worker.get("/requests").get_data(as_text=True)
    assert sent in dashboard and "Closed: child not known" in dashboard


def test_the_social_worker_is_e_mailed_the_reference_and_link_only(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    engine: Engine,
    keyring_path: Path,
    sessions: sessionmaker[Session],  # noqa: F811 - the fixture
    smtp_server: SmtpServer,  # noqa: F811 - the fixture
) -> None:
    # The case's allocated worker, when not the one who asked, is told too.
    allocated = make_user(
        db_session, world.worker.organisation, Role.SOCIAL_WORKER, team=world.worker.team
    )
    world.case.allocated_worker_id = allocated.id
    db_session.commit()
    settings = notification_settings(engine, keyring_path, smtp_port=smtp_server.port)
    sender = SmtpSender(host="127.0.0.1", port=smtp_server.port, from_address="no-reply@a.test")
    send_due(sessions, sender, settings)  # the school's e-mails about the new request
    smtp_server.catcher.received.clear()
    before = len(events(db_session, AuditAction.NOTIFICATION_SENT))

    close_request(client_for(app, world.teacher), sent, world)
    counts = send_due(sessions, sender, settings)
    assert (counts.sent, counts.failed) == (2, 0)
    received = {tuple(mail.to): mail for mail in smtp_server.catcher.received}
    assert set(received) == {(world.worker.email,), (allocated.email,)}
    for mail in received.values():
        email = mail.email
        body = email.get_content()
        assert sent in str(email["Subject"]) and "does not know the child" in str(email["Subject"])
        assert f"{BASE_URL}/requests/{sent}" in body
        text = f"{mail.raw.decode('utf-8', errors='replace')}\n{email['Subject']}\n{body}"
        for secret in (AMELIA, OLIVER, "Hart", PURPOSE, "NCC-555001", SECRET_ANSWER, "Ashby"):
            assert secret not in text
        for person in (world.teacher, world.worker, allocated):
            assert person.display_name not in text
    sent_events = events(db_session, AuditAction.NOTIFICATION_SENT)[before:]
    assert {event.details["kind"] for event in sent_events} == {"child_not_known"}


# --- Once sent ----------------------------------------------------------------------------------


def test_confirmations_are_fixed_once_the_first_version_is_sent(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    confirm_children(teacher, sent, {oliver: NOT_THIS_CHILD})
    answer_everything(teacher, sent, [amelia])
    assert send(teacher, sent).status_code == 302
    before = confirmations(db_session, sent)

    page = teacher.get(f"/inbox/{sent}/children")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and children_on_page(html) == []  # shown, not asked
    assert "cannot change" in html and "You said this is not the child you know" in html
    token = csrf_token(teacher.get(f"/inbox/{sent}").get_data(as_text=True))
    refused = teacher.post(
        f"/inbox/{sent}/children",
        data={
            "csrf_token": token,
            f"known-{amelia}": "known",
            f"known-{oliver}": "known",
            f"matched-{amelia}": KNOWN[1],
            f"matched-{oliver}": KNOWN[1],
        },
    )
    assert refused.status_code == 409 and "cannot change" in refused.get_data(as_text=True)
    assert confirmations(db_session, sent) == before
    assert len(events(db_session, AuditAction.CHILDREN_CONFIRMED)) == 1
    show = teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "You said this is not the child you know" in show
    assert f'href="/inbox/{sent}/children"' not in show  # no way to change it
    receipt = teacher.get(f"/inbox/{sent}/receipts/1").get_data(as_text=True)
    assert "You hold a record for this child (matched on name and date of birth)" in receipt
    assert "You said this is not the child you know" in receipt


def test_after_a_return_the_answers_go_on_for_the_confirmed_children(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    confirm_children(teacher, sent, {oliver: NOT_KNOWN})
    answer_everything(teacher, sent, [amelia])
    assert send(teacher, sent).status_code == 302
    request = request_row(db_session, sent)
    request.status = RequestStatus.RETURNED
    db_session.commit()
    start = teacher.get(f"/inbox/{sent}/answer")
    assert start.headers["Location"].endswith(f"/answer/{TEMPLATE.sections[0].id}")
    answer_everything(teacher, sent, [amelia])
    assert send(teacher, sent).headers["Location"].endswith("/receipts/2")


def test_a_version_sent_before_confirmations_existed_keeps_its_receipt_and_goes_on(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    keyring: FileKeyring,
    audit_key_path: Path,
) -> None:
    """Sent before this release: no confirmations, a receipt signed over the old content."""
    request = request_row(db_session, sent)
    answers = {"attendance_percent": "91"}
    version = Contribution(
        request_id=request.id,
        version=1,
        status=ContributionStatus.SUBMITTED,
        created_by_id=world.teacher.id,
        submitted_by_id=world.teacher.id,
        submitted_at=datetime.now(UTC),
        attachments=[],
    )
    RecordCipher(keyring, db_session).seal_json(version, "answers_enc", answers)
    receipts.sign(CheckpointSigner.load(audit_key_path), request, version, answers)
    request.status = RequestStatus.SUBMITTED
    db_session.add(version)
    db_session.commit()
    assert b'"children"' not in canonical_content(request, version, answers)

    teacher = client_for(app, world.teacher)
    document = json.loads(teacher.get(f"/inbox/{sent}/receipts/1/download").get_data())
    key = PublicKey.from_pem(app.test_client().get("/.well-known/audit-checkpoint-key.pem").data)
    assert verify_receipt(document, key)
    assert (
        document["sha256"]
        == hashlib.sha256(canonical_content(request, version, answers)).hexdigest()
    )
    receipt = teacher.get(f"/inbox/{sent}/receipts/1").get_data(as_text=True)
    assert "You hold a record" not in receipt and "Not confirmed yet" not in receipt
    assert "Not confirmed yet" not in teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    assert "nothing to confirm" in teacher.get(f"/inbox/{sent}/children").get_data(as_text=True)

    # Returned for more: the partner answers again about every child, as before.
    request = request_row(db_session, sent)
    request.status = RequestStatus.RETURNED
    db_session.commit()
    start = teacher.get(f"/inbox/{sent}/answer")
    assert start.headers["Location"].endswith(f"/answer/{TEMPLATE.sections[0].id}")
    page = teacher.get(f"/inbox/{sent}/answer/{per_child_section().id}").get_data(as_text=True)
    assert f"– {AMELIA}" in page and f"– {OLIVER}" in page


def test_the_confirmation_pages_repeat_no_id(app: Flask, world: World, sent: str) -> None:
    teacher = client_for(app, world.teacher)
    amelia, oliver = ids(world)
    asking = teacher.get(f"/inbox/{sent}/children").get_data(as_text=True)
    wrong = teacher.post(f"/inbox/{sent}/children", data={"csrf_token": csrf_token(asking)})
    closing = confirm_children(teacher, sent, {amelia: NOT_KNOWN, oliver: NOT_KNOWN})
    assert "You do not know any of the children" in closing.get_data(as_text=True)
    for page in (asking, wrong.get_data(as_text=True), closing.get_data(as_text=True)):
        assert repeated_ids(page) == []


def test_the_school_is_not_pointed_at_a_request_it_closed(
    app: Flask,
    world: World,
    sent: str,
    db_session: Session,
    engine: Engine,
    keyring_path: Path,
    sessions: sessionmaker[Session],  # noqa: F811 - the fixture
    smtp_server: SmtpServer,  # noqa: F811 - the fixture
) -> None:
    close_request(client_for(app, world.teacher), sent, world)  # before its e-mails went
    settings = notification_settings(engine, keyring_path, smtp_port=smtp_server.port)
    sender = SmtpSender(host="127.0.0.1", port=smtp_server.port, from_address="no-reply@a.test")
    counts = send_due(sessions, sender, settings)
    assert [mail.to for mail in smtp_server.catcher.received] == [[world.worker.email]]
    assert (counts.sent, counts.failed) == (1, 3)  # the school's three "new request" e-mails
    request = request_row(db_session, sent)
    unsent = db_session.scalars(
        sa.select(Notification).where(
            Notification.request_id == request.id,
            Notification.kind == NotificationKind.REQUEST_ISSUED,
        )
    ).all()
    assert len(unsent) == 3 and {n.last_error for n in unsent} == {"request_closed"}
