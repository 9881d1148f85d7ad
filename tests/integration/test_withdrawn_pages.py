"""A request withdrawn (or closed) while a partner works on it: every partner page of it says
so — when (UK time), by which council team, that what was not sent was not shared — to the
people who could open it, with 410 and nothing of its content; to anyone else it is 404, as
if it never existed. The people at the partner who had opened it get an e-mail; passing a
request to a colleague e-mails the colleague."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import (
    Attachment,
    Contribution,
    Notification,
    NotificationKind,
    NotificationStatus,
    OrganisationStatus,
    Role,
    RoleAssignment,
    User,
    UserStatus,
)
from portal.uk_time import end_of_uk_day, long_date, uk_moment, uk_today
from tests.factories import csrf_token, make_user
from tests.integration.test_contributions import (
    TEMPLATE,
    answer_everything,
    children_of,
    request_row,
    section_form,
    send,
)
from tests.support.confirming import confirm_if_asked
from tests.support.world import PURPOSE, World, client_for, issue

PURPOSE_WORDS = PURPOSE.split(":")[0]

SECTION = TEMPLATE.sections[0].id
# Every partner page that finds a request by its reference (portal/requests/access.py
# partners_request): method, path (after /inbox/<reference>).
PAGES = [
    ("GET", ""),
    ("GET", "/answer"),
    ("GET", "/children"),
    ("POST", "/children"),
    ("GET", f"/answer/{SECTION}"),
    ("POST", f"/answer/{SECTION}"),
    ("GET", "/answer/check"),
    ("POST", "/answer/submit"),
    ("POST", f"/answer/{SECTION}/files/anything"),
    ("POST", f"/answer/{SECTION}/files/00000000-0000-0000-0000-000000000000/remove"),
    ("GET", "/receipts/1"),
    ("GET", "/receipts/1/download"),
    ("GET", "/receipts/1/feedback"),
    ("POST", "/receipts/1/feedback"),
    ("POST", "/route"),
]


def withdraw(app: Flask, world: World, reference: str) -> None:
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    done = worker.post(
        f"/requests/{reference}/revoke", data={"csrf_token": token, "reason": "Case closed"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:1000]


def fetch(client: FlaskClient, method: str, path: str, token: str) -> tuple[int, str]:
    response = client.open(
        path, method=method, data={"csrf_token": token} if method == "POST" else None
    )
    return response.status_code, response.get_data(as_text=True)


@pytest.fixture
def opened(app: Flask, world: World) -> str:
    """A request the teacher has confirmed the children of and opened."""
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    confirm_if_asked(teacher, reference)
    assert teacher.get(f"/inbox/{reference}").status_code == 200
    return reference


def test_every_partner_page_of_a_withdrawn_request_says_when_and_by_whom(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    lead = client_for(app, world.lead)  # the lead may use every page, passing it on too
    token = csrf_token(lead.get(f"/inbox/{opened}").get_data(as_text=True))
    withdraw(app, world, opened)
    withdrawn_at = request_row(db_session, opened).closed_at
    assert withdrawn_at is not None

    for method, path in PAGES:
        status, html = fetch(lead, method, f"/inbox/{opened}{path}", token)
        assert status == 410, (method, path, status)
        assert "This request has been withdrawn" in html, (method, path)
        assert f"CIN East withdrew this request on {uk_moment(withdrawn_at)}" in html
        assert "Anything not yet sent was not shared" in html
        assert "Page not found" not in html
        for secret in (PURPOSE_WORDS, "Amelia", "Oliver", "Case closed"):
            assert secret not in html, (method, path, secret)
        said_unsaved = "What you just sent could not be saved" in html
        assert said_unsaved == (method == "POST"), (method, path)


def test_the_page_names_the_team_that_withdrew_it_not_the_cases_team_now(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    withdraw(app, world, opened)  # by the worker, of CIN East
    request = request_row(db_session, opened)
    request.case.team_id = world.other_worker.team_id  # the case moves to CIN West since
    db_session.commit()

    html = client_for(app, world.teacher).get(f"/inbox/{opened}").get_data(as_text=True)

    assert "CIN East withdrew this request" in html and "CIN West" not in html


def test_answers_posted_after_the_withdrawal_land_on_the_page_and_save_nothing(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    section = TEMPLATE.sections[0]
    path = f"/inbox/{opened}/answer/{section.id}"
    token = csrf_token(teacher.get(path).get_data(as_text=True))  # the page is open
    withdraw(app, world, opened)

    posted = teacher.post(path, data=section_form(token, section, children_of(world), "later"))

    assert posted.status_code == 410
    html = posted.get_data(as_text=True)
    assert "What you just sent could not be saved" in html
    assert "This request has been withdrawn" in html
    request = request_row(db_session, opened)
    assert request.status is RequestStatus.REVOKED
    drafts = db_session.scalars(
        sa.select(Contribution.answers_enc).where(Contribution.request_id == request.id)
    ).all()
    assert drafts == []  # nothing was saved, before or after the withdrawal


def test_people_who_could_never_open_it_still_get_not_found(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world, named_recipient=str(world.teacher.id))
    confirm_if_asked(client_for(app, world.teacher), reference)
    withdraw(app, world, reference)

    for person in (world.colleague, world.outsider):  # not named; another school
        client = client_for(app, person)
        assert client.get(f"/inbox/{reference}").status_code == 404
        assert client.get(f"/inbox/{reference}/answer/{SECTION}").status_code == 404
    # The named teacher and the school's lead are told.
    for person in (world.teacher, world.lead):
        assert client_for(app, person).get(f"/inbox/{reference}").status_code == 410
    assert client_for(app, world.teacher).get("/inbox/DR-NOTHERE").status_code == 404


def test_only_people_who_could_have_seen_it_while_open_are_told_it_was_withdrawn(
    app: Flask, world: World, db_session: Session
) -> None:
    # Named to the teacher: the colleague could not see it while it was open. Today's rule
    # would admit a colleague made a partner lead since, and a newcomer; the page would
    # confirm to them that the reference exists.
    reference = issue(app, world, named_recipient=str(world.teacher.id))
    confirm_if_asked(client_for(app, world.teacher), reference)
    withdraw(app, world, reference)
    withdrawn_at = request_row(db_session, reference).closed_at
    assert withdrawn_at is not None
    promoted = world.colleague
    promoted.role_assignments.append(RoleAssignment(role=Role.PARTNER_LEAD))
    newcomer = make_user(db_session, world.school, Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)
    db_session.commit()

    for person in (promoted, newcomer):
        assert client_for(app, person).get(f"/inbox/{reference}").status_code == 404
    # A lead since before it closed was told, as is the named teacher.
    for person in (world.lead, world.teacher):
        assert client_for(app, person).get(f"/inbox/{reference}").status_code == 410
    # Someone whose account is newer than its closing but who demonstrably opened it (the
    # record says so) is told too.
    record_event(
        db_session,
        AuditAction.REQUEST_VIEWED,
        actor=actor_for(newcomer),
        object_type="delegation_request",
        object_id=reference,
    )
    db_session.commit()
    assert client_for(app, newcomer).get(f"/inbox/{reference}").status_code == 410


def test_a_request_past_its_closing_date_says_it_closed_at_the_end_of_that_day(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    # As the council's pages give it: "at the end of" the closing date, not the midnight
    # after (a closing date is kept as the end of that UK day).
    closing_date = uk_today() - timedelta(days=1)
    request = request_row(db_session, opened)
    request.expires_at = end_of_uk_day(closing_date)
    db_session.commit()

    page = client_for(app, world.teacher).get(f"/inbox/{opened}")

    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This request has closed" in html
    said = f"This request from CIN East closed at the end of {long_date(closing_date)}, its closing"
    assert said in html
    assert long_date(closing_date + timedelta(days=1)) not in html
    # Unanswered, not yet marked expired: the draft goes at the next run.
    assert "Anything not yet sent was not shared with the council, and will be deleted" in html
    assert "kept as sent" not in html
    assert PURPOSE_WORDS not in html
    assert client_for(app, world.outsider).get(f"/inbox/{opened}").status_code == 404


def test_a_closed_requests_page_says_what_became_of_the_answer_and_links_the_copies(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, opened, children_of(world))
    assert send(teacher, opened).status_code == 302
    colleague = client_for(app, world.colleague)
    assert colleague.get(f"/inbox/{opened}").status_code == 200  # saw it while it was open
    request = request_row(db_session, opened)
    request.expires_at = end_of_uk_day(uk_today() - timedelta(days=1))
    db_session.commit()
    copy = f"/inbox/{opened}/versions/1/copy"

    html = teacher.get(f"/inbox/{opened}").get_data(as_text=True)
    assert "Your organisation sent its answer before then. The council can still review it" in html
    assert "You do not need to answer it" not in html and "deleted" not in html
    assert f'href="{copy}"' in html and f'href="{copy}.pdf"' in html
    assert teacher.get(copy).status_code == 200  # the link holds after it closed
    # A contributor who did not send it may not keep the copy, and is told who may.
    told = colleague.get(f"/inbox/{opened}").get_data(as_text=True)
    assert copy not in told
    assert "The person who sent it and your organisation’s partner leads can keep" in told

    request = request_row(db_session, opened)
    request.status = RequestStatus.ACCEPTED
    db_session.commit()
    html = teacher.get(f"/inbox/{opened}").get_data(as_text=True)
    assert "The council accepted your organisation’s answer" in html
    assert "You can no longer answer it" not in html

    request = request_row(db_session, opened)
    request.status = RequestStatus.REJECTED
    db_session.commit()
    html = teacher.get(f"/inbox/{opened}").get_data(as_text=True)
    assert "The council did not accept your organisation’s answer" in html


def test_a_request_withdrawn_after_an_answer_was_sent_links_its_copy(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, opened, children_of(world))
    assert send(teacher, opened).status_code == 302
    withdraw(app, world, opened)

    html = teacher.get(f"/inbox/{opened}").get_data(as_text=True)

    assert "What your organisation sent before then has been kept as sent" in html
    copy = f"/inbox/{opened}/versions/1/copy"
    assert f'href="{copy}"' in html
    assert teacher.get(copy).status_code == 200
    assert teacher.get(f"/inbox/{opened}/receipts/1").status_code == 410  # gone with it


def queued(session: Session, kind: NotificationKind) -> set[object]:
    session.expire_all()
    rows = session.scalars(sa.select(Notification).where(Notification.kind == kind))
    return {row.recipient_id for row in rows}


def test_withdrawing_e_mails_exactly_those_at_the_partner_who_opened_it(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    # The lead opened it too; the colleague never did; another school's person could not.
    assert client_for(app, world.lead).get(f"/inbox/{opened}").status_code == 200
    gone = make_user(db_session, world.school, Role.PARTNER_CONTRIBUTOR)
    db_session.commit()
    assert client_for(app, gone).get(f"/inbox/{opened}").status_code == 200
    gone.status = UserStatus.SUSPENDED  # opened it, then was suspended
    db_session.commit()
    assert queued(db_session, NotificationKind.REQUEST_WITHDRAWN) == set()

    withdraw(app, world, opened)

    assert queued(db_session, NotificationKind.REQUEST_WITHDRAWN) == {
        world.teacher.id,
        world.lead.id,
    }


def worked_without_opening(session: Session, world: World, reference: str) -> dict[str, User]:
    """People at the school who worked on the request as the answering pages record it, none
    of them with a read of its own page on the record; and one who only saw it in a list."""
    request = request_row(session, reference)
    people = {
        name: make_user(session, world.school, Role.PARTNER_CONTRIBUTOR)
        for name in ("author", "discarded", "uploader", "reader", "listed")
    }
    older = Contribution(
        request_id=request.id,
        version=1,
        status=ContributionStatus.DISCARDED,
        created_by_id=people["discarded"].id,
    )
    draft = Contribution(request_id=request.id, version=2, created_by_id=people["author"].id)
    session.add_all([older, draft])
    session.flush()
    session.add(
        Attachment(
            contribution_id=draft.id,
            answer_key="documents",
            filename_enc=b"sealed",
            content_type="application/pdf",
            size_bytes=1,
            uploaded_by_id=people["uploader"].id,
        )
    )
    for name, shown_in in (("reader", None), ("listed", "inbox")):
        record_event(
            session,
            AuditAction.CHILD_DETAILS_VIEWED,
            actor=actor_for(people[name]),
            object_type="delegation_request",
            object_id=reference,
            details={"shown_in": shown_in} if shown_in else None,
        )
    session.commit()
    return people


def test_withdrawing_e_mails_those_who_worked_on_it_without_opening_its_page(
    app: Flask, world: World, db_session: Session
) -> None:
    reference = issue(app, world)
    people = worked_without_opening(db_session, world, reference)

    withdraw(app, world, reference)

    told = {people[name].id for name in ("author", "discarded", "uploader", "reader")}
    assert queued(db_session, NotificationKind.REQUEST_WITHDRAWN) == told  # not "listed"


def test_no_withdrawal_e_mail_to_an_organisation_that_could_not_sign_in(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    world.school.status = OrganisationStatus.SUSPENDED
    db_session.commit()

    withdraw(app, world, opened)

    assert queued(db_session, NotificationKind.REQUEST_WITHDRAWN) == set()


def test_answered_elsewhere_withdraws_and_e_mails_those_who_opened_it(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    worker = client_for(app, world.worker)
    path = f"/requests/{opened}/answered-elsewhere"
    token = csrf_token(worker.get(path).get_data(as_text=True))
    done = worker.post(path, data={"csrf_token": token, "channel": "phone", "reason": "urgent"})
    assert done.status_code == 302, done.get_data(as_text=True)[:1500]

    assert request_row(db_session, opened).status is RequestStatus.REVOKED
    assert queued(db_session, NotificationKind.REQUEST_WITHDRAWN) == {world.teacher.id}
    assert client_for(app, world.teacher).get(f"/inbox/{opened}").status_code == 410


def test_passing_a_request_e_mails_the_colleague_each_time(
    app: Flask, world: World, opened: str, db_session: Session
) -> None:
    lead = client_for(app, world.lead)

    def pass_to(person_id: object) -> None:
        token = csrf_token(lead.get(f"/inbox/{opened}").get_data(as_text=True))
        done = lead.post(
            f"/inbox/{opened}/route", data={"csrf_token": token, "colleague": str(person_id)}
        )
        assert done.status_code == 302, done.get_data(as_text=True)[:1500]

    pass_to(world.colleague.id)
    assert queued(db_session, NotificationKind.REQUEST_PASSED) == {world.colleague.id}
    mail = db_session.scalar(
        sa.select(Notification).where(Notification.kind == NotificationKind.REQUEST_PASSED)
    )
    assert mail is not None
    mail.status = mail.status.__class__("sent")
    db_session.commit()

    pass_to(world.teacher.id)
    pass_to(world.colleague.id)  # passed back: e-mailed again
    assert queued(db_session, NotificationKind.REQUEST_PASSED) == {
        world.colleague.id,
        world.teacher.id,
    }
    db_session.expire_all()
    again = db_session.get(Notification, mail.id)
    assert again is not None and again.status.value == "pending"
    again.status = NotificationStatus.SENT
    db_session.commit()
    pass_to(world.colleague.id)  # already theirs: no e-mail saying it was passed to them
    db_session.expire_all()
    passed = sa.select(Notification.recipient_id).where(
        Notification.kind == NotificationKind.REQUEST_PASSED,
        Notification.status == NotificationStatus.PENDING,
    )
    assert db_session.scalars(passed).all() == [world.teacher.id]
