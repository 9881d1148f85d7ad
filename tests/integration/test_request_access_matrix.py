"""Who reaches a request, by organisation and the request's state, not only by role: every
person × state × page, against exactly the combinations the rules allow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.lifecycle import RequestStatus
from portal.models import DelegationRequest, Organisation, OrganisationKind, Role, User
from tests.factories import make_organisation, make_user
from tests.support.confirming import confirm_children
from tests.support.world import World, client_for, issue

STATES = ("open", "confirmed", "revoked", "lapsed", "child_not_known")
# Pages a request has, by who they are for.
PARTNER_PAGES = (
    "/inbox/{ref}",
    "/inbox/{ref}/children",
    "/inbox/{ref}/answer/attendance",
    "/inbox/{ref}/answer/check",
)
COUNCIL_PAGES = ("/requests/{ref}",)


def people(session: Session, world: World) -> dict[str, User]:
    council = session.get(Organisation, world.worker.organisation_id)
    assert council is not None
    police = make_organisation(session, OrganisationKind.POLICE)
    health = make_organisation(session, OrganisationKind.HEALTH)
    found = {
        "issuing worker": world.worker,
        "manager of the case's team": make_user(
            session, council, Role.TEAM_MANAGER, team=world.worker.team
        ),
        "worker in another team": world.other_worker,
        "IG officer": make_user(session, council, Role.IG_OFFICER),
        "portal admin": make_user(session, council, Role.PORTAL_ADMIN),
        "school lead": world.lead,
        "school contributor": world.teacher,
        "another school": world.outsider,
        "police": make_user(session, police, Role.PARTNER_CONTRIBUTOR),
        "health": make_user(session, health, Role.PARTNER_CONTRIBUTOR),
    }
    session.commit()
    return found


def expected(person: str, page: str, state: str) -> int:
    partner_page = page.startswith("/inbox")
    if partner_page:
        if person not in (
            "school lead",
            "school contributor",
            "another school",
            "police",
            "health",
        ):
            return 403  # the route is for partners only
        if person not in ("school lead", "school contributor"):
            return 404  # another organisation's: no trace
        if state in ("revoked", "lapsed"):
            return 410  # closed: when and by whom, nothing of the request
        return _addressed_partner(page, state)
    if person in ("issuing worker", "manager of the case's team"):
        return 200  # the council still sees closed requests
    if person == "worker in another team":
        return 404
    return 403


def _addressed_partner(page: str, state: str) -> int:
    """The school's own people: the request's page always (closed because they know none of
    the children, it says only that); the confirmation page until they know none; the
    questions once they have confirmed the children (before that, sent to confirm them)."""
    if page.endswith("/children"):
        return 302 if state == "child_not_known" else 200
    if page.endswith("/attendance"):
        return 200 if state == "confirmed" else 302
    if page.endswith("/check"):
        return 302  # nothing drafted: back to the start (or to confirm, or to the closed page)
    return 200


def close(session: Session, reference: str, state: str) -> None:
    request = session.scalar(
        sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
    )
    assert request is not None
    if state == "revoked":
        request.status = RequestStatus.REVOKED
    elif state == "lapsed":
        # Just now: after the people were made, who could then see it while it was open.
        request.expires_at = datetime.now(UTC)
    elif state == "child_not_known":
        request.status = RequestStatus.CHILD_NOT_KNOWN
    session.commit()


@pytest.mark.parametrize("state", STATES)
def test_every_person_reaches_exactly_what_the_rules_allow(
    app: Flask, world: World, db_session: Session, state: str
) -> None:
    reference = issue(app, world)
    if state == "confirmed":
        confirm_children(client_for(app, world.teacher), reference)
    everyone = people(db_session, world)
    close(db_session, reference, state)
    wrong = []
    for name, user in everyone.items():
        client = client_for(app, user)
        for template in (*PARTNER_PAGES, *COUNCIL_PAGES):
            page = template.format(ref=reference)
            status = client.get(page).status_code
            if status != expected(name, page, state):
                wrong.append((name, page, status, expected(name, page, state)))
    assert wrong == []
