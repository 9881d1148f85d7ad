"""What the figures are computed from, recorded through the real pages: a partner's first
opening of a request, a request answered outside the portal, and feedback after sending."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.audit import Actor, AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    AuditEvent,
    Contribution,
    DelegationRequest,
    Feedback,
    OfflineAnswer,
    RequestOpening,
    Role,
    Satisfaction,
)
from portal.pilot.recording import COMMENT_LIMIT, PilotRefused, give_feedback, record_opening
from tests.conftest import both_backends
from tests.factories import csrf_token, make_case, make_organisation, make_request, make_user
from tests.integration.test_contributions import answer_everything, children_of, send
from tests.support.world import World, client_for, issue

COMMENT = "The date boxes were confusing"


def _request(session: Session, reference: str) -> DelegationRequest:
    session.expire_all()
    found = session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert found is not None
    return found


def _events(session: Session, action: AuditAction) -> list[AuditEvent]:
    return list(
        session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)).all()
    )


def test_the_first_opening_by_the_partner_is_recorded_once(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = issue(app, world)
    client_for(app, world.worker).get(f"/requests/{reference}")  # the council's view: not counted
    found = _request(db_session, reference)
    assert db_session.get(RequestOpening, found.id) is None
    version_before = found.row_version
    assert client_for(app, world.teacher).get(f"/inbox/{reference}").status_code == 200
    first = db_session.get(RequestOpening, found.id)
    assert first is not None and first.opened_by_id == world.teacher.id
    opened_at = first.opened_at
    client_for(app, world.lead).get(f"/inbox/{reference}")
    db_session.expire_all()
    again = db_session.get(RequestOpening, found.id)
    assert again is not None
    assert (again.opened_by_id, again.opened_at) == (world.teacher.id, opened_at)
    assert _request(db_session, reference).row_version == version_before


@pytest.mark.parametrize("page", ["children", "answer/first"])
def test_going_straight_to_the_children_or_the_answers_is_an_opening(
    app: Flask, db_session: Session, world: World, page: str
) -> None:
    reference = issue(app, world)
    response = client_for(app, world.teacher).get(f"/inbox/{reference}/{page}")
    assert response.status_code in (200, 302)  # the answers send them to the children first
    found = _request(db_session, reference)
    opening = db_session.get(RequestOpening, found.id)
    assert opening is not None and opening.opened_by_id == world.teacher.id


def _answered_elsewhere(app: Flask, world: World, reference: str, **fields: str) -> TestResponse:
    client = client_for(app, world.worker)
    path = f"/requests/{reference}/answered-elsewhere"
    token = csrf_token(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **fields})


def test_answered_outside_the_portal_withdraws_the_request(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = issue(app, world)
    response = _answered_elsewhere(app, world, reference, channel="phone", reason="urgent")
    assert response.status_code == 302
    found = _request(db_session, reference)
    assert found.status is RequestStatus.REVOKED
    answer = db_session.get(OfflineAnswer, found.id)
    assert answer is not None and (answer.channel.value, answer.reason) == ("phone", "urgent")
    (event,) = _events(db_session, AuditAction.REQUEST_ANSWERED_ELSEWHERE)
    assert event.details == {"channel": "phone", "reason": "urgent"}
    assert _events(db_session, AuditAction.REQUEST_REVOKED)
    # Once withdrawn, it cannot be recorded again.
    again = _answered_elsewhere(app, world, reference, channel="email", reason="other")
    assert again.status_code == 409
    assert "This request is closed" in again.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(OfflineAnswer)) == 1


def test_answers_waiting_for_review_are_reviewed_not_recorded_elsewhere(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = _sent_version(app, world)
    page = client_for(app, world.worker).get(f"/requests/{reference}/answered-elsewhere")
    assert page.status_code == 409
    text = page.get_data(as_text=True)
    assert "waiting for review: review them instead" in text
    assert "can no longer be withdrawn" not in text
    assert db_session.scalar(sa.select(sa.func.count()).select_from(OfflineAnswer)) == 0


def test_answered_outside_the_portal_needs_both_answers(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = issue(app, world)
    for fields in ({}, {"channel": "phone"}, {"channel": "pigeon", "reason": "urgent"}):
        response = _answered_elsewhere(app, world, reference, **fields)
        assert response.status_code == 400
        assert "govuk-error-summary" in response.get_data(as_text=True)
    assert _request(db_session, reference).status is RequestStatus.ISSUED
    assert db_session.scalar(sa.select(sa.func.count()).select_from(OfflineAnswer)) == 0


def test_only_who_may_change_the_request_records_it(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = issue(app, world)
    client = client_for(app, world.other_worker)  # another team's worker: cannot see it
    assert client.get(f"/requests/{reference}/answered-elsewhere").status_code == 404


def _sent_version(app: Flask, world: World) -> str:
    reference = issue(app, world)
    client = client_for(app, world.teacher)
    answer_everything(client, reference, children_of(world))
    assert send(client, reference).status_code == 302
    return reference


def test_feedback_after_sending_once_and_sealed(
    app: Flask, db_session: Session, world: World
) -> None:
    reference = _sent_version(app, world)
    client = client_for(app, world.teacher)
    receipt = client.get(f"/inbox/{reference}/receipts/1").get_data(as_text=True)
    path = f"/inbox/{reference}/receipts/1/feedback"
    assert path in receipt
    page = client.get(path).get_data(as_text=True)
    assert "Do not include anything about a child or family" in page
    assert "Skip feedback" in page
    assert "not tied to your name" not in page  # the audit trail says who gave it
    assert "The council can see that you gave feedback" in page
    token = csrf_token(page)
    response = client.post(path, data={"csrf_token": token, "rating": "4", "comment": COMMENT})
    assert response.status_code == 302
    feedback = db_session.scalars(sa.select(Feedback)).one()
    assert feedback.rating == 4 and feedback.organisation_id == world.school.id
    assert feedback.comment_enc is not None and COMMENT.encode() not in feedback.comment_enc
    (event,) = _events(db_session, AuditAction.FEEDBACK_GIVEN)
    assert event.details == {"rating": 4, "commented": True}
    assert "Thank you for your feedback" in client.get(path).get_data(as_text=True)
    twice = client.post(path, data={"csrf_token": token, "rating": "1"})
    assert twice.status_code == 409
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 1


def test_feedback_refused_with_a_message(app: Flask, db_session: Session, world: World) -> None:
    reference = _sent_version(app, world)
    client = client_for(app, world.teacher)
    path = f"/inbox/{reference}/receipts/1/feedback"
    token = csrf_token(client.get(path).get_data(as_text=True))
    for fields in (
        {"comment": "no rating"},
        {"rating": "9"},
        {"rating": "5", "comment": "x" * (COMMENT_LIMIT + 1)},
    ):
        response = client.post(path, data={"csrf_token": token, **fields})
        assert response.status_code == 400, fields
        assert "govuk-error-summary" in response.get_data(as_text=True)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0
    # No feedback on a version never sent.
    assert client.get(f"/inbox/{reference}/receipts/2/feedback").status_code == 404
    # Only the person who sent it rates sending it: a colleague gets "not found".
    colleague = client_for(app, world.colleague)
    assert colleague.get(path).status_code == 404
    theirs = csrf_token(colleague.get("/inbox").get_data(as_text=True))
    assert colleague.post(path, data={"csrf_token": theirs, "rating": "5"}).status_code == 404
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0
    sent = db_session.scalars(sa.select(Contribution)).one()
    assert sent.status is ContributionStatus.SUBMITTED


@both_backends
def test_the_services_on_both_databases(db_session: Session, keyring: FileKeyring) -> None:
    """The demo runs on SQLite: the insert-if-absent and the once-only feedback there too."""
    cipher = RecordCipher(keyring, db_session)
    case, _child = make_case(db_session, cipher, "Amelia Hart")
    worker = make_user(db_session, case.team.organisation, Role.SOCIAL_WORKER, team=case.team)
    school = make_organisation(db_session)
    teacher, colleague = (make_user(db_session, school, Role.PARTNER_CONTRIBUTOR) for _ in "ab")
    found = make_request(db_session, cipher, case, school, worker)
    record_opening(db_session, found, worker)  # the council's: not an opening
    assert db_session.get(RequestOpening, found.id) is None
    record_opening(db_session, found, teacher)
    record_opening(db_session, found, colleague)
    db_session.expire_all()
    opening = db_session.get(RequestOpening, found.id)
    assert opening is not None and opening.opened_by_id == teacher.id
    sent = Contribution(
        request_id=found.id,
        version=1,
        status=ContributionStatus.SUBMITTED,
        created_by_id=teacher.id,
        submitted_by_id=teacher.id,
        submitted_at=found.issued_at,
    )
    db_session.add(sent)
    db_session.flush()
    actor = Actor(user_id=teacher.id, organisation_id=school.id, role="partner_contributor")
    give_feedback(db_session, cipher, sent, actor, Satisfaction.SATISFIED, COMMENT)
    with pytest.raises(PilotRefused, match="already given"):
        give_feedback(db_session, cipher, sent, actor, Satisfaction.DISSATISFIED, None)
    (feedback,) = db_session.scalars(sa.select(Feedback)).all()
    assert feedback.rating == 4 and cipher.open_text(feedback, "comment_enc") == COMMENT
