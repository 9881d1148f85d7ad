"""Due and closing dates have an upper bound with a clear message, and no day is so far ahead
that it breaks the page (31/12/9999 once answered 500: the end of that day is past the
calendar's range). Through the real app on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.auth.login import actor_for
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import DelegationRequest, OrganisationKind, Role
from portal.requests import services
from portal.uk_time import end_of_uk_day, last_uk_day, latest_planned_day, long_date, uk_today
from tests.factories import csrf_token, make_organisation, make_request, make_user
from tests.integration.test_contributions import answer_everything, children_of, send
from tests.support.world import World, client_for, day_fields, issue, request_form

END_OF_CALENDAR = date(9999, 12, 31)


def test_the_end_of_the_last_day_of_the_calendar_is_still_an_instant() -> None:
    assert end_of_uk_day(END_OF_CALENDAR) == datetime.max.replace(tzinfo=UTC)
    assert last_uk_day(end_of_uk_day(END_OF_CALENDAR)) == END_OF_CALENDAR
    summer = date(2026, 7, 1)  # British Summer Time: the day ends at 23:00 UTC
    assert end_of_uk_day(summer) == datetime(2026, 7, 1, 23, tzinfo=UTC)
    assert last_uk_day(end_of_uk_day(summer)) == summer


def _too_late_message(label: str) -> str:
    return f"The {label} must be the same as or before {long_date(latest_planned_day())}"


@pytest.mark.parametrize("closing", [date(9999, 12, 30), END_OF_CALENDAR])
def test_a_closing_date_too_far_ahead_is_refused_when_issuing(
    app: Flask, world: World, db_session: Session, closing: date
) -> None:
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new/NCC-555001").get_data(as_text=True))
    form = request_form(world, token, step="issue")
    form.setlist("expires_on", [str(closing.day), str(closing.month), str(closing.year)])
    answer = client.post("/requests/new/NCC-555001", data=form)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400, html[:2000]
    assert _too_late_message("closing date") in html and "govuk-error-summary" in html
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) == 0


def test_a_due_date_too_far_ahead_is_refused_when_issuing(app: Flask, world: World) -> None:
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new/NCC-555001").get_data(as_text=True))
    form = request_form(world, token, step="issue")
    form.setlist("due_on", ["1", "1", "3000"])
    answer = client.post("/requests/new/NCC-555001", data=form)
    assert answer.status_code == 400
    assert _too_late_message("due date") in answer.get_data(as_text=True)


def test_the_furthest_day_allowed_is_accepted(
    app: Flask, world: World, db_session: Session
) -> None:
    furthest = latest_planned_day()
    reference = issue(app, world)
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    extended = worker.post(
        f"/requests/{reference}/extend",
        data=MultiDict(
            [("csrf_token", token), *day_fields("due_on", furthest)]
            + day_fields("expires_on", furthest)
        ),
    )
    assert extended.status_code == 302
    db_session.expire_all()
    request = db_session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert request is not None and last_uk_day(request.expires_at) == furthest


@pytest.mark.parametrize("closing", [date(9999, 12, 30), END_OF_CALENDAR])
def test_a_closing_date_too_far_ahead_is_refused_when_extending(
    app: Flask, world: World, db_session: Session, closing: date
) -> None:
    reference = issue(app, world)
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}").get_data(as_text=True))
    due = uk_today() + timedelta(days=20)
    answer = worker.post(
        f"/requests/{reference}/extend",
        data=MultiDict(
            [("csrf_token", token), *day_fields("due_on", due), *day_fields("expires_on", closing)]
        ),
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400, html[:2000]
    assert _too_late_message("new closing date") in html
    db_session.expire_all()
    request = db_session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert request is not None and request.due_on != due


@pytest.mark.parametrize("due", [date(9999, 12, 30), END_OF_CALENDAR])
def test_a_new_due_date_too_far_ahead_is_refused_when_returning(
    app: Flask, world: World, db_session: Session, due: date
) -> None:
    reference = issue(app, world)
    teacher = client_for(app, world.teacher)
    answer_everything(teacher, reference, children_of(world))
    assert send(teacher, reference).status_code == 302
    worker = client_for(app, world.worker)
    token = csrf_token(worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True))
    first_section = "attendance"
    answer = worker.post(
        f"/requests/{reference}/versions/1/decision",
        data=MultiDict(
            [
                ("csrf_token", token),
                ("decision", "returned"),
                ("sections", first_section),
                ("reason", "More please"),
                *day_fields("new_due_on", due),
            ]
        ),
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400, html[:2000]
    assert _too_late_message("new due date") in html


def test_an_audit_search_to_the_last_day_of_the_calendar_finds_everything(
    app: Flask, db_session: Session
) -> None:
    officer = make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.IG_OFFICER
    )
    client = client_for(app, officer)
    found = client.get("/audit", query_string=day_fields("date_to", END_OF_CALENDAR))
    assert found.status_code == 200 and "govuk-error-summary" not in found.get_data(as_text=True)


def test_the_extend_service_refuses_a_closing_date_too_far_ahead_whoever_calls_it(
    db_session: Session, keyring: FileKeyring, world: World
) -> None:
    """The form refuses it first; the service holds the rule for any other caller."""
    request = make_request(
        db_session, RecordCipher(keyring, db_session), world.case, world.school, world.worker
    )
    due = uk_today() + timedelta(days=5)
    with pytest.raises(services.RequestRefused) as refused:
        services.extend(db_session, request, actor_for(world.worker), due, END_OF_CALENDAR)
    assert refused.value.field == "expires_on"
    assert refused.value.message == _too_late_message("new closing date")
