"""The pure steps of issuing a request (portal/requests/services.py issue), without a database:
which children it may be about, its dates, and the request it builds."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from portal.lifecycle import RequestStatus
from portal.models import Case, Child, Organisation, OrganisationKind, User
from portal.requests.services import (
    NewRequest,
    RequestRefused,
    check_issue_dates,
    chosen_children,
    new_request,
)
from portal.uk_time import end_of_uk_day

TODAY = date(2026, 11, 2)


def family() -> tuple[Case, Child, Child]:
    older, younger = Child(id=uuid.uuid4(), position=0), Child(id=uuid.uuid4(), position=1)
    return (
        Case(id=uuid.uuid4(), cms_reference="NCC-100234", children=[older, younger]),
        older,
        younger,
    )


def test_the_children_chosen_are_the_cases_own() -> None:
    case, older, younger = family()
    assert chosen_children(case, (younger.id,)) == [younger]
    assert chosen_children(case, (younger.id, older.id, younger.id)) == [older, younger]


@pytest.mark.parametrize("chosen", [(), (uuid.uuid4(),)], ids=["none", "a child on another case"])
def test_no_children_or_another_cases_child_is_refused(chosen: tuple[uuid.UUID, ...]) -> None:
    case, older, _ = family()
    with pytest.raises(RequestRefused) as refused:
        chosen_children(case, (*chosen, older.id) if chosen else chosen)
    assert refused.value.field == "children"


def test_a_child_the_cms_no_longer_lists_is_refused_on_the_field() -> None:
    case, older, younger = family()
    older.delisted_at = datetime(2026, 11, 1, tzinfo=UTC)

    assert chosen_children(case, (younger.id,)) == [younger]
    with pytest.raises(RequestRefused) as refused:
        chosen_children(case, (older.id, younger.id))
    assert refused.value.field == "children"
    assert "no longer on this case in the case management system" in refused.value.message


@pytest.mark.parametrize(
    ("due_on", "expires_on", "field"),
    [
        (TODAY, TODAY, None),
        (date(2026, 11, 20), date(2026, 12, 31), None),
        (date(2026, 11, 1), date(2026, 12, 31), "due_on"),  # yesterday
        (date(2026, 11, 20), date(2026, 11, 19), "expires_on"),  # ends before it is due
    ],
)
def test_a_request_is_due_from_today_and_ends_no_sooner(
    due_on: date, expires_on: date, field: str | None
) -> None:
    if field is None:
        check_issue_dates(due_on, expires_on, TODAY)
        return
    with pytest.raises(RequestRefused) as refused:
        check_issue_dates(due_on, expires_on, TODAY)
    assert refused.value.field == field


def test_the_new_request_is_issued_to_the_partner_until_the_end_of_its_last_uk_day() -> None:
    case, older, _ = family()
    school = Organisation(id=uuid.uuid4(), name="Ashby Lane", kind=OrganisationKind.SCHOOL)
    worker = User(id=uuid.uuid4())
    new = NewRequest(
        case_id=case.id,
        child_ids=(older.id,),
        partner_organisation_id=school.id,
        named_recipient_id=None,
        form_template="school-contribution",
        form_template_version=1,
        lawful_basis="children_act_1989_s47",
        purpose="Attendance and wellbeing",
        message=None,
        due_on=date(2026, 11, 20),
        expires_on=date(2026, 12, 31),
    )
    now = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)

    request = new_request(case, [older], school, worker, new, now)

    assert request.reference.startswith("DR-") and len(request.reference) == 11
    assert (request.case, request.partner_organisation, request.children) == (case, school, [older])
    assert (request.status, request.issued_at, request.requested_by_id) == (
        RequestStatus.ISSUED,
        now,
        worker.id,
    )
    assert request.due_on == new.due_on
    assert request.expires_at == end_of_uk_day(new.expires_on)
    assert request.purpose_enc is None  # sealed by the caller, never set in plain text here
