"""Issuing a request and finding it as a partner, through the real app on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.audit import AuditAction
from portal.lifecycle import RequestStatus
from portal.models import (
    DelegationRequest,
    Notification,
    NotificationKind,
)
from tests.factories import csrf_token
from tests.support.audit_log import events
from tests.support.world import PURPOSE, World, client_for, day_fields, issue


def test_finding_a_case_by_its_reference(app: Flask, world: World, db_session: Session) -> None:
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new").get_data(as_text=True))
    missing = client.post("/requests/new", data={"csrf_token": token, "reference": "NCC-999999"})
    assert (
        missing.status_code == 400
        and "There is no case with that reference" in missing.get_data(as_text=True)
    )
    found = client.post("/requests/new", data={"csrf_token": token, "reference": "NCC-555001"})
    assert found.headers["Location"] == "/requests/new/NCC-555001"
    assert [e.details["found"] for e in events(db_session, AuditAction.CASE_LOOKED_UP)] == [
        False,
        True,
    ]


def test_a_lookup_that_finds_nothing_records_that_never_the_text_typed(
    app: Flask, world: World, db_session: Session
) -> None:
    """The audit trail can never be shredded: what someone typed may be a child's name."""
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new").get_data(as_text=True))
    for typed in ("NCC-999999", "Amelia-Hart-2014"):
        answer = client.post("/requests/new", data={"csrf_token": token, "reference": typed})
        assert answer.status_code == 400
    client.post("/requests/new", data={"csrf_token": token, "reference": "NCC-555001"})
    lookups = events(db_session, AuditAction.CASE_LOOKED_UP)
    assert [(e.case_reference, e.details["found"]) for e in lookups] == [
        (None, False),
        (None, False),
        ("NCC-555001", True),
    ]
    written = db_session.execute(sa.text("SELECT * FROM audit_events")).all()
    assert not any("Amelia" in str(row) or "999999" in str(row) for row in written)


def test_the_form_offers_only_partners_with_an_agreement_and_records_the_read(
    app: Flask, world: World, db_session: Session
) -> None:
    page = client_for(app, world.worker).get("/requests/new/NCC-555001").get_data(as_text=True)
    assert "Amelia Hart" in page and "Oliver Hart" in page
    assert "Ashby Lane Primary" in page and "No Agreement Police" not in page
    read = events(db_session, AuditAction.CHILD_DETAILS_VIEWED)
    assert read and read[-1].case_reference == "NCC-555001"


def test_bad_input_is_explained_and_nothing_is_saved(
    app: Flask, world: World, db_session: Session
) -> None:
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new/NCC-555001").get_data(as_text=True))
    answer = client.post(
        "/requests/new/NCC-555001",
        data=MultiDict(
            [
                ("csrf_token", token),
                ("step", "issue"),
                ("purpose", ""),
                ("due_on", "31"),
                ("due_on", "2"),
                ("due_on", "2027"),
            ]
        ),
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "govuk-error-summary" in html
    for message in (
        "Select the children the request is about",
        "Select the organisation to ask",
        "Enter why you need this information",
        "Due date must be a real date",
        "Enter the closing date",
    ):
        assert message in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) == 0


def test_issuing_records_the_sharing_decision_and_stores_the_purpose_encrypted(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    db_session.expire_all()
    request = db_session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert request is not None and request.status == RequestStatus.ISSUED
    assert len(request.children) == 2 and request.partner_organisation_id == world.school.id
    assert PURPOSE.encode() not in request.purpose_enc
    decision = events(db_session, AuditAction.REQUEST_ISSUED)[-1]
    assert decision.object_id == reference and decision.case_reference == "NCC-555001"
    assert decision.details["lawful_basis"] == "children-act-1989-s47"
    assert decision.details["partner_organisation_id"] == str(world.school.id)
    assert decision.details["children"] == 2 and "purpose" not in decision.details

    # Everyone at the school who can answer is told, by a queued e-mail (sent by the sender).
    told = db_session.scalars(
        sa.select(Notification.recipient_id).where(
            Notification.kind == NotificationKind.REQUEST_ISSUED
        )
    ).all()
    assert set(told) == {world.lead.id, world.teacher.id, world.colleague.id}

    dashboard = client_for(app, world.worker).get("/requests").get_data(as_text=True)
    assert reference in dashboard and "Sent" in dashboard


def test_the_request_page_gives_days_as_people_write_them(app: Flask, world: World) -> None:
    """The closing date is the last UK day the partner can answer, never a UTC instant."""
    reference = issue(app, world)
    page = client_for(app, world.worker).get(f"/requests/{reference}").get_data(as_text=True)
    closing = date.today() + timedelta(days=30)
    assert f"At the end of {closing.day} {closing:%B %Y}" in page
    assert "Amelia Hart (born 14 March 2015)" in page and "UTC" not in page
    banner = client_for(app, world.worker).get(f"/requests/{reference}?issued=1")
    text = banner.get_data(as_text=True)
    assert f'banner__heading">Request {reference} sent to' in text and "&lt;p" not in text


def test_the_school_finds_it_and_sees_only_what_it_needs(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    assert reference in teacher.get("/inbox").get_data(as_text=True)
    page = teacher.get(f"/inbox/{reference}").get_data(as_text=True)
    assert "Amelia Hart, born 14 March 2015" in page and PURPOSE in page
    assert "cin@council.test" in page and "NCC-555001" not in page  # never the case record
    viewed = events(db_session, AuditAction.REQUEST_VIEWED)[-1]
    assert viewed.actor_user_id == world.teacher.id and viewed.case_reference == "NCC-555001"


def test_another_school_finds_no_trace_of_it(app: Flask, world: World) -> None:
    reference = issue(app, world)
    outsider = client_for(app, world.outsider)
    assert reference not in outsider.get("/inbox").get_data(as_text=True)
    assert outsider.get(f"/inbox/{reference}").status_code == 404
    other_team = client_for(app, world.other_worker)
    assert other_team.get(f"/requests/{reference}").status_code == 404
    # Nor can a worker of another team open the case, or find it by its reference.
    assert other_team.get("/requests/new/NCC-555001").status_code == 404
    token = csrf_token(other_team.get("/requests/new").get_data(as_text=True))
    looked = other_team.post("/requests/new", data={"csrf_token": token, "reference": "NCC-555001"})
    assert looked.status_code == 400 and "There is no case" in looked.get_data(as_text=True)


def test_a_lead_routes_it_to_a_named_colleague(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    lead = client_for(app, world.lead)
    token = csrf_token(lead.get(f"/inbox/{reference}").get_data(as_text=True))
    routed = lead.post(
        f"/inbox/{reference}/route",
        data={"csrf_token": token, "colleague": str(world.colleague.id)},
    )
    assert routed.status_code == 302
    assert client_for(app, world.colleague).get(f"/inbox/{reference}").status_code == 200
    assert client_for(app, world.teacher).get(f"/inbox/{reference}").status_code == 404
    assert events(db_session, AuditAction.REQUEST_ROUTED)[-1].details["named_recipient_id"] == str(
        world.colleague.id
    )
    refused = lead.post(
        f"/inbox/{reference}/route", data={"csrf_token": token, "colleague": str(world.outsider.id)}
    )
    assert refused.status_code == 400


def test_a_revoked_request_vanishes_from_the_school_at_once(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    assert teacher.get(f"/inbox/{reference}").status_code == 200
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    empty = worker.post(f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": ""})
    assert empty.status_code == 400 and "Enter why you are withdrawing" in empty.get_data(
        as_text=True
    )
    revoked = worker.post(
        f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": "Case closed"}
    )
    assert revoked.status_code == 302
    assert teacher.get(f"/inbox/{reference}").status_code == 410  # withdrawn: when, by whom
    assert reference not in teacher.get("/inbox").get_data(as_text=True)
    assert "Withdrawn" in worker.get(f"/requests/{reference}").get_data(as_text=True)
    again = worker.post(
        f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": "Again"}
    )
    assert again.status_code == 409 and "can no longer be withdrawn" in again.get_data(as_text=True)
    assert events(db_session, AuditAction.REQUEST_REVOKED)


def test_more_time_can_be_given_and_a_lapsed_request_is_gone(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    later = date.today() + timedelta(days=40)
    wrong = worker.post(
        f"/requests/{reference}/extend",
        data=MultiDict(
            [
                ("csrf_token", token),
                *day_fields("due_on", later),
                *day_fields("expires_on", later - timedelta(days=1)),
            ]
        ),
    )
    assert wrong.status_code == 400 and "must not end before it is due" in wrong.get_data(
        as_text=True
    )
    extended = worker.post(
        f"/requests/{reference}/extend",
        data=MultiDict(
            [("csrf_token", token), *day_fields("due_on", later), *day_fields("expires_on", later)]
        ),
    )
    assert extended.status_code == 302
    db_session.expire_all()
    request = db_session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert request is not None and request.due_on == later

    # Closed just now: the teacher's account (made for the test) is older, so they could
    # have seen it while it was open.
    request.expires_at = datetime.now(UTC)
    db_session.commit()
    assert client_for(app, world.teacher).get(f"/inbox/{reference}").status_code == 410  # closed
