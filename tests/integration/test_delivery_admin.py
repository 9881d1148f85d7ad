"""Deliveries to the CMS as people see them: the administrator's queue page, retry and cancel
(each audited), and the delivery's state on the social worker's and the partner's pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.admin.deliveries import age_in_words
from portal.audit import AuditAction
from portal.lifecycle import ContributionStatus, OutboxStatus, RequestStatus
from portal.models import (
    Contribution,
    DelegationRequest,
    Organisation,
    OutboxMessage,
    Role,
    User,
)
from portal.uk_time import UK
from tests.factories import csrf_token, make_user
from tests.integration.test_contributions import answer_everything, children_of, send
from tests.support.audit_log import events
from tests.support.world import World, client_for, issue

STOPPED_REASON = "cms_unavailable: the CMS answered 503 eight times"
WAITING_REASON = "timeout: no answer within 10 seconds"


@dataclass
class Accepted:
    reference: str
    message: OutboxMessage


def accepted(app: Flask, world: World, db_session: Session) -> Accepted:
    """A request answered by the school and accepted by the worker, through the real pages."""
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True))
    decided = worker.post(
        f"/requests/{reference}/versions/1/decision",
        data={"csrf_token": token, "decision": "accepted"},
    )
    assert decided.status_code == 302
    db_session.expire_all()
    message = db_session.scalar(
        sa.select(OutboxMessage)
        .join(Contribution, Contribution.id == OutboxMessage.contribution_id)
        .join(DelegationRequest, DelegationRequest.id == Contribution.request_id)
        .where(DelegationRequest.reference == reference)
    )
    assert message is not None and message.status == OutboxStatus.PENDING
    return Accepted(reference, message)


def stop(db_session: Session, message: OutboxMessage) -> None:
    """As the worker leaves a delivery that has used up its attempts."""
    message.status = OutboxStatus.DEAD_LETTERED
    message.attempts = 8
    message.last_error = STOPPED_REASON
    db_session.commit()


def mark_delivered(db_session: Session, message: OutboxMessage, record_id: str) -> None:
    """As the worker records a delivery the CMS confirmed."""
    now = datetime.now(UTC)
    contribution = db_session.get_one(Contribution, message.contribution_id)
    message.status = OutboxStatus.DELIVERED
    message.cms_record_id = record_id
    message.delivered_at = now
    message.last_error = None
    contribution.status = ContributionStatus.DELIVERED
    contribution.cms_record_id = record_id
    contribution.delivered_at = now
    contribution.request.status = RequestStatus.DELIVERED
    db_session.commit()


@pytest.fixture
def admin(db_session: Session, world: World) -> User:
    council = db_session.get_one(Organisation, world.worker.organisation_id)
    found = make_user(db_session, council, Role.PORTAL_ADMIN)
    db_session.commit()
    return found


@pytest.fixture
def admin_client(app: Flask, admin: User) -> FlaskClient:
    return client_for(app, admin)


def token_of(client: FlaskClient) -> str:
    return csrf_token(client.get("/admin/deliveries").get_data(as_text=True))


def current(db_session: Session, message: OutboxMessage) -> OutboxMessage:
    db_session.expire_all()
    return db_session.get_one(OutboxMessage, message.id)


def test_the_page_lists_stopped_and_waiting_deliveries_with_their_reasons(
    app: Flask, world: World, db_session: Session, admin_client: FlaskClient
) -> None:
    waiting = accepted(app, world, db_session)
    stopped = accepted(app, world, db_session)
    stop(db_session, stopped.message)
    waiting.message.attempts = 2
    waiting.message.last_error = WAITING_REASON
    waiting.message.next_attempt_at = datetime(2030, 7, 1, 12, 0, tzinfo=UTC)
    waiting.message.created_at = datetime.now(UTC) - timedelta(hours=3, minutes=5)
    db_session.commit()

    response = admin_client.get("/admin/deliveries")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Deliveries to the case management system" in page
    # The stopped one first, then the waiting one, each with its reason.
    assert page.index(stopped.reference) < page.index(waiting.reference)
    assert "Dead-lettered" in page and "govuk-tag--red" in page
    assert "Waiting" in page and "govuk-tag--blue" in page
    assert STOPPED_REASON in page and WAITING_REASON in page
    assert "NCC-555001" in page and "Ashby Lane Primary" in page
    assert "1 July 2030 at 1pm" in page  # UK summer time, GOV.UK style
    assert "3 hours" in page
    assert f"/admin/deliveries/{stopped.message.id}/cancel" in page
    assert f"/admin/deliveries/{waiting.message.id}/cancel" not in page  # waiting: no cancel
    assert "Retry" in page and "Try now" in page
    assert 'href="/admin/deliveries"' in page  # the administrator's navigation


def test_retry_starts_a_stopped_delivery_again_and_is_audited(
    app: Flask,
    world: World,
    db_session: Session,
    admin: User,
    admin_client: FlaskClient,
) -> None:
    stopped = accepted(app, world, db_session)
    stop(db_session, stopped.message)

    refused = admin_client.post(f"/admin/deliveries/{stopped.message.id}/retry")
    assert refused.status_code == 400  # no CSRF token
    assert current(db_session, stopped.message).status == OutboxStatus.DEAD_LETTERED

    response = admin_client.post(
        f"/admin/deliveries/{stopped.message.id}/retry", data={"csrf_token": token_of(admin_client)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/deliveries"
    message = current(db_session, stopped.message)
    assert message.status == OutboxStatus.PENDING and message.attempts == 0
    assert message.next_attempt_at <= datetime.now(UTC)
    [event] = events(db_session, AuditAction.DELIVERY_RETRIED)
    assert event.actor_user_id == admin.id
    assert event.details["request"] == stopped.reference
    assert event.details["previous_status"] == "dead_lettered"
    assert event.details["last_error_code"] == "cms_unavailable"
    banner = admin_client.get("/admin/deliveries").get_data(as_text=True)
    assert "govuk-notification-banner--success" in banner and stopped.reference in banner


def test_try_now_sends_a_waiting_delivery_at_once(
    app: Flask, world: World, db_session: Session, admin_client: FlaskClient
) -> None:
    waiting = accepted(app, world, db_session)
    waiting.message.attempts = 3
    waiting.message.next_attempt_at = datetime.now(UTC) + timedelta(hours=2)
    db_session.commit()

    before = datetime.now(UTC)
    response = admin_client.post(
        f"/admin/deliveries/{waiting.message.id}/retry", data={"csrf_token": token_of(admin_client)}
    )
    assert response.status_code == 302
    message = current(db_session, waiting.message)
    assert message.status == OutboxStatus.PENDING and message.attempts == 3
    assert before - timedelta(seconds=1) <= message.next_attempt_at <= datetime.now(UTC)
    assert len(events(db_session, AuditAction.DELIVERY_RETRIED)) == 1


def test_cancel_needs_confirming_and_is_audited(
    app: Flask,
    world: World,
    db_session: Session,
    admin: User,
    admin_client: FlaskClient,
) -> None:
    stopped = accepted(app, world, db_session)
    stop(db_session, stopped.message)
    path = f"/admin/deliveries/{stopped.message.id}/cancel"

    confirm = admin_client.get(path)
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "copy it into the case management system by hand" in page
    assert stopped.reference in page and STOPPED_REASON in page
    assert current(db_session, stopped.message).status == OutboxStatus.DEAD_LETTERED
    assert events(db_session, AuditAction.DELIVERY_CANCELLED) == []

    response = admin_client.post(path, data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/deliveries"
    assert current(db_session, stopped.message).status == OutboxStatus.CANCELLED
    [event] = events(db_session, AuditAction.DELIVERY_CANCELLED)
    assert event.actor_user_id == admin.id and event.details["request"] == stopped.reference
    listed = admin_client.get("/admin/deliveries").get_data(as_text=True)
    assert "was cancelled" in listed and f"{stopped.message.id}/retry" not in listed

    worker_page = client_for(app, world.worker).get(f"/requests/{stopped.reference}")
    text = worker_page.get_data(as_text=True)
    assert "Not sent: cancelled by an administrator. Copy it into the case record by hand." in text


def test_a_waiting_or_delivered_delivery_cannot_be_cancelled_and_nothing_changes(
    app: Flask, world: World, db_session: Session, admin_client: FlaskClient
) -> None:
    waiting = accepted(app, world, db_session)
    path = f"/admin/deliveries/{waiting.message.id}/cancel"
    assert "Cancel this delivery" not in admin_client.get(path).get_data(as_text=True)

    response = admin_client.post(path, data={"csrf_token": token_of(admin_client)})
    assert response.status_code == 409
    assert "Only a delivery that has stopped trying can be cancelled" in response.get_data(
        as_text=True
    )
    assert current(db_session, waiting.message).status == OutboxStatus.PENDING
    assert events(db_session, AuditAction.DELIVERY_CANCELLED) == []

    mark_delivered(db_session, waiting.message, "CMS-0000AAAA")
    retried = admin_client.post(
        f"/admin/deliveries/{waiting.message.id}/retry", data={"csrf_token": token_of(admin_client)}
    )
    assert retried.status_code == 409
    assert current(db_session, waiting.message).status == OutboxStatus.DELIVERED
    assert events(db_session, AuditAction.DELIVERY_RETRIED) == []


def test_an_unknown_delivery_is_not_found(admin_client: FlaskClient) -> None:
    token = token_of(admin_client)
    unknown = "/admin/deliveries/8a1f0a55-5a52-4c0b-9d6e-2f3c8e9b1a00"
    assert admin_client.post(f"{unknown}/retry", data={"csrf_token": token}).status_code == 404
    assert admin_client.get(f"{unknown}/cancel").status_code == 404
    assert admin_client.post(f"{unknown}/cancel", data={"csrf_token": token}).status_code == 404
    assert admin_client.get("/admin/deliveries/not-a-uuid/cancel").status_code == 404


@pytest.mark.parametrize("role", ["worker", "teacher", "ig_officer"])
def test_only_administrators_reach_the_delivery_pages(
    app: Flask, world: World, db_session: Session, role: str
) -> None:
    stopped = accepted(app, world, db_session)
    stop(db_session, stopped.message)
    if role == "ig_officer":
        council = db_session.get_one(Organisation, world.worker.organisation_id)
        person = make_user(db_session, council, Role.IG_OFFICER)
        db_session.commit()
    else:
        person = getattr(world, role)
    client = client_for(app, person)
    token = csrf_token(client.get("/").get_data(as_text=True))
    base = f"/admin/deliveries/{stopped.message.id}"
    assert client.get("/admin/deliveries").status_code == 403
    assert client.post(f"{base}/retry", data={"csrf_token": token}).status_code == 403
    assert client.get(f"{base}/cancel").status_code == 403
    assert client.post(f"{base}/cancel", data={"csrf_token": token}).status_code == 403
    assert current(db_session, stopped.message).status == OutboxStatus.DEAD_LETTERED
    assert events(db_session, AuditAction.DELIVERY_RETRIED) == []
    assert events(db_session, AuditAction.DELIVERY_CANCELLED) == []
    assert 'href="/admin/deliveries"' not in client.get("/").get_data(as_text=True)


def test_the_social_worker_sees_where_the_delivery_stands_but_never_its_error(
    app: Flask, world: World, db_session: Session
) -> None:
    sent = accepted(app, world, db_session)
    worker = client_for(app, world.worker)

    def page() -> str:
        return worker.get(f"/requests/{sent.reference}").get_data(as_text=True)

    assert "Waiting to be sent to the case record." in page()
    stop(db_session, sent.message)
    stopped = page()
    assert (
        "Could not be sent to the case record yet. It is on the portal administrators’ list "
        "to put right." in stopped
    )
    assert STOPPED_REASON not in stopped and "cms_unavailable" not in stopped


def test_both_sides_see_the_cms_record_once_delivered(
    app: Flask, world: World, db_session: Session
) -> None:
    sent = accepted(app, world, db_session)
    mark_delivered(db_session, sent.message, "CMS-5D1E2F3A4B5C6D7E")
    today = datetime.now(UK)

    worker = client_for(app, world.worker)
    council_page = worker.get(f"/requests/{sent.reference}").get_data(as_text=True)
    assert (
        f"Delivered to the case record on {today:%-d %B %Y}, CMS record CMS-5D1E2F3A4B5C6D7E."
        in council_page
    )
    dashboard = worker.get("/requests").get_data(as_text=True)
    assert "Delivered to the case record" in dashboard

    teacher = client_for(app, world.teacher)
    partner_page = teacher.get(f"/inbox/{sent.reference}").get_data(as_text=True)
    assert "added to the child’s record (CMS record CMS-5D1E2F3A4B5C6D7E)" in partner_page
    assert "NCC-555001" not in partner_page  # still never the council's case reference
    inbox = teacher.get("/inbox").get_data(as_text=True)
    assert "Delivered to the case record" in inbox


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "less than a minute"),
        (59, "less than a minute"),
        (60, "1 minute"),
        (150, "2 minutes"),
        (3 * 3600 + 300, "3 hours"),
        (86400, "1 day"),
        (5 * 86400 + 7200, "5 days"),
    ],
)
def test_the_oldest_waiting_age_reads_as_words(seconds: float, words: str) -> None:
    assert age_in_words(seconds) == words
