"""Only live organisations with an agreement in force receive requests: the form offers no
other, a hostile POST naming one is refused, and so is the service called directly."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from portal.audit.record import SYSTEM
from portal.crypto.keyring import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import DelegationRequest, OrganisationStage
from portal.onboarding.intake import accepting_requests
from portal.requests import services
from portal.uk_time import uk_today
from tests.factories import csrf_token, make_agreement
from tests.support.world import World, client_for, request_form

S = OrganisationStage


def hostile_issue(app: Flask, world: World) -> str:
    """Post the whole request, straight to its last step, naming the school."""
    client = client_for(app, world.worker)
    token = csrf_token(client.get("/requests/new/NCC-555001").get_data(as_text=True))
    sent = client.post(
        "/requests/new/NCC-555001",
        data=MultiDict([*request_form(world, token).items(multi=True), ("step", "issue")]),
    )
    html = sent.get_data(as_text=True)
    assert sent.status_code == 400 and "govuk-error-summary" in html, sent.status_code
    # The form refuses a choice it did not offer before the service is asked.
    assert "Not a valid choice" in html or "live in the pilot" in html
    return html


def new_request(world: World) -> services.NewRequest:
    today = uk_today()
    return services.NewRequest(
        case_id=world.case.id,
        child_ids=tuple(child.id for child in world.case.children),
        partner_organisation_id=world.school.id,
        named_recipient_id=None,
        form_template="school-contribution",
        form_template_version=1,
        lawful_basis="children-act-1989-s47",
        purpose="purpose",
        message=None,
        due_on=today + timedelta(days=10),
        expires_on=today + timedelta(days=30),
    )


@pytest.mark.parametrize("stage", [S.PROPOSED, S.ONBOARDING, S.PAUSED, S.LEFT])
def test_nothing_is_sent_to_an_organisation_that_is_not_live(
    app: Flask, world: World, db_session: Session, keyring: FileKeyring, stage: S
) -> None:
    world.school.stage = stage
    db_session.commit()
    page = client_for(app, world.worker).get("/requests/new/NCC-555001").get_data(as_text=True)
    assert "Brookfield Academy" in page and "Ashby Lane Primary" not in page
    hostile_issue(app, world)
    with pytest.raises(services.RequestRefused):
        services.issue(
            db_session,
            RecordCipher(keyring, db_session),
            world.worker,
            SYSTEM,
            new_request(world),
        )
    assert db_session.scalar(sa.select(sa.func.count()).select_from(DelegationRequest)) == 0


def test_an_agreement_past_its_review_date_pauses_intake(
    app: Flask, world: World, db_session: Session
) -> None:
    today = uk_today()
    make_agreement(db_session, world.school, review_on=today)  # the last day it is in force
    db_session.commit()
    assert world.school in accepting_requests(db_session, today)
    assert world.school not in accepting_requests(db_session, today + timedelta(days=1))

    make_agreement(db_session, world.school, review_on=today - timedelta(days=1))
    db_session.commit()
    assert world.school not in accepting_requests(db_session, today)
    hostile_issue(app, world)
    # A reviewed agreement, recorded after, lets requests go again.
    make_agreement(db_session, world.school, review_on=date.today() + timedelta(days=365))
    db_session.commit()
    assert world.school in accepting_requests(db_session, today)
