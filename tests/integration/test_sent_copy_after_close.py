"""The copy of what was sent once the request is closed to the viewer (portal/contributions/
sent_copy.py): the sender and the partner's leads keep what the partner supplied (its answers,
its documents' names, sizes and digests, the receipt), never what the council supplied about
the children; the reads are on the record, marked after_close. And who keeps it: not a
suspended sender, not one who moved organisation, not a former lead who did not send it."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.models import AuditEvent, Contribution, Role, RoleAssignment, User, UserStatus
from tests.factories import csrf_token, make_user
from tests.integration.test_contributions import SECRET_ANSWER, request_row
from tests.integration.test_sent_copy import copy_path, pdf_of, send_a_version
from tests.support.pdf_text import pdf_text
from tests.support.world import World, client_for

COUNCIL_SUPPLIED = ("Amelia Hart", "Oliver Hart", "2015", "14 March")


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    return send_a_version(app, world)


def withdraw(app: Flask, world: World, reference: str) -> None:
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    withdrawn = worker.post(
        f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": "Case closed"}
    )
    assert withdrawn.status_code == 302


def expire(db_session: Session, reference: str) -> None:
    request_row(db_session, reference).expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.commit()


def reads(db_session: Session, user: User, action: AuditAction) -> list[dict[str, object]]:
    return list(
        db_session.scalars(
            sa.select(AuditEvent.details)
            .where(AuditEvent.action == action.value, AuditEvent.actor_user_id == user.id)
            .order_by(AuditEvent.seq)
        )
    )


def test_while_open_the_copy_names_the_children_and_the_read_says_so(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    html = client_for(app, world.teacher).get(copy_path(sent)).get_data(as_text=True)
    assert "Amelia Hart" in html and "Child 1" not in html
    viewed = reads(db_session, world.teacher, AuditAction.CONTRIBUTION_VIEWED)
    assert viewed[-1]["shown_in"] == "copy_page" and viewed[-1]["after_close"] is False
    named = reads(db_session, world.teacher, AuditAction.CHILD_DETAILS_VIEWED)
    assert named[-1] == {"shown_in": "copy_page", "after_close": False}


@pytest.mark.parametrize("close", ["withdrawn", "expired"])
def test_after_close_the_copy_keeps_only_what_the_partner_supplied(
    app: Flask, world: World, sent: str, db_session: Session, close: str
) -> None:
    if close == "withdrawn":
        withdraw(app, world, sent)
    else:
        expire(db_session, sent)
    named_before = len(reads(db_session, world.teacher, AuditAction.CHILD_DETAILS_VIEWED))
    for person in (world.teacher, world.lead):
        client = client_for(app, person)
        page = client.get(copy_path(sent))
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and SECRET_ANSWER in html
        assert "Child 1" in html and "Child 2" in html and "You hold a record" in html
        assert not [said for said in COUNCIL_SUPPLIED if said in html]
        assert 'id="after-close"' in html
        text = pdf_text(pdf_of(client, sent))
        assert SECRET_ANSWER in text and "Child 1" in text
        assert not [said for said in COUNCIL_SUPPLIED if said in text]
    viewed = reads(db_session, world.teacher, AuditAction.CONTRIBUTION_VIEWED)
    assert [(v["shown_in"], v["after_close"]) for v in viewed[-2:]] == [
        ("copy_page", True),
        ("copy_pdf", True),
    ]
    # Nothing the council supplied about the children was shown: no read of their details.
    assert len(reads(db_session, world.teacher, AuditAction.CHILD_DETAILS_VIEWED)) == named_before


def test_a_suspended_sender_loses_the_copy_and_the_leads_keep_it(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    withdraw(app, world, sent)
    teacher = client_for(app, world.teacher)
    world.teacher.status = UserStatus.SUSPENDED
    db_session.commit()
    assert teacher.get(copy_path(sent)).status_code != 200
    assert client_for(app, world.lead).get(copy_path(sent)).status_code == 200


def test_a_sender_who_moved_organisation_loses_the_copy(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    expire(db_session, sent)
    world.teacher.organisation_id = world.other_school.id
    db_session.commit()
    assert client_for(app, world.teacher).get(copy_path(sent)).status_code == 404


def test_a_former_lead_who_did_not_send_it_loses_the_copy(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    former = make_user(db_session, world.school, Role.PARTNER_LEAD)
    db_session.commit()
    assert client_for(app, former).get(copy_path(sent)).status_code == 200
    withdraw(app, world, sent)
    assert client_for(app, former).get(copy_path(sent)).status_code == 200
    db_session.execute(
        sa.update(RoleAssignment)
        .where(RoleAssignment.user_id == former.id)
        .values(role=Role.PARTNER_CONTRIBUTOR)
    )
    db_session.commit()
    db_session.expire_all()
    assert client_for(app, former).get(copy_path(sent)).status_code == 404


def test_a_lead_reads_what_the_organisation_sent_and_the_sender_what_they_sent(
    app: Flask, world: World, sent: str
) -> None:
    lead = client_for(app, world.lead).get(copy_path(sent)).get_data(as_text=True)
    assert f"What {world.school.name} sent: {sent}, version 1" in lead
    assert "What you sent" not in lead
    mine = client_for(app, world.teacher).get(copy_path(sent)).get_data(as_text=True)
    assert f"What you sent: {sent}, version 1" in mine


def test_content_that_no_longer_matches_the_receipt_is_left_out_and_said(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    version = db_session.scalar(
        sa.select(Contribution).where(Contribution.request_id == request_row(db_session, sent).id)
    )
    assert version is not None
    version.receipt_digest = bytes(32)  # as if the content could not be rebuilt as signed
    db_session.commit()
    teacher = client_for(app, world.teacher)
    html = teacher.get(copy_path(sent)).get_data(as_text=True)
    assert 'id="content-differs"' in html
    data = pdf_of(teacher, sent)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert set(pdf.attachments) == {"receipt.json"}
    assert "could not rebuild exactly the content" in pdf_text(data)
