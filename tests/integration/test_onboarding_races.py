"""Races over an organisation's stage, on a real PostgreSQL database with the portal running
for real (threaded, its own connections), as in test_concurrent_decisions.py: two officers
moving it at once move it once; a request issued while it leaves either keeps it in the pilot
or is refused, never both; a person suspended while they are approved as partner lead stays
suspended."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from portal.audit import AuditAction
from portal.auth.login import actor_for
from portal.auth.oidc.provider_spec import ProviderSpec, spec_of
from portal.auth.oidc.registry import save_provider
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import RequestStatus
from portal.models import (
    AuditEvent,
    ChangeStatus,
    DelegationRequest,
    IdentityProvider,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    Role,
    User,
    UserStatus,
)
from portal.onboarding import changes, decisions, organisations
from portal.onboarding.stages import Move, StageRefused
from portal.people import services as people
from portal.requests.services import RequestRefused
from portal.uk_time import uk_today
from tests.factories import make_organisation, make_user
from tests.integration.test_concurrent_decisions import (
    at_once,
    browser,
    issued_to_the_school,
    token_of,
)
from tests.support.live_portal import LiveStack, live_portal
from tests.support.world import World, build_world


@pytest.fixture(scope="module")
def live(postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path) -> Iterator[LiveStack]:
    with live_portal(postgres_admin, keyring, keyring_path) as stack:
        yield stack


def test_two_officers_starting_onboarding_at_once_move_it_once(live: LiveStack) -> None:
    with live.session() as session:
        council = make_organisation(session, OrganisationKind.COUNCIL)
        officers = [make_user(session, council, Role.PARTNER_ENGAGEMENT_OFFICER) for _ in "ab"]
        school = make_organisation(session, stage=OrganisationStage.PROPOSED)
        session.commit()
        ids = [officer.id for officer in officers]
        school_id = school.id
    browsers = [browser(live, user_id) for user_id in ids]
    page = f"{live.portal_url}/organisations/{school_id}"
    forms = [{"csrf_token": token_of(http.get(page, timeout=10).text)} for http in browsers]
    statuses = at_once(
        *(
            (http, f"{page}/stage", {**form, "move": Move.START_ONBOARDING.value})
            for http, form in zip(browsers, forms, strict=True)
        )
    )
    assert statuses == [302, 400]
    with live.session() as session:
        moved = session.scalars(
            sa.select(AuditEvent).where(
                AuditEvent.action == AuditAction.ORGANISATION_STAGE_CHANGED.value,
                AuditEvent.object_id == str(school_id),
            )
        ).all()
        assert len(moved) == 1
        found = session.get(Organisation, school_id)
        assert found is not None and found.stage == OrganisationStage.ONBOARDING


def test_adding_the_same_organisation_twice_at_once_adds_it_once(live: LiveStack) -> None:
    with live.session() as session:
        council = make_organisation(session, OrganisationKind.COUNCIL)
        officer = make_user(session, council, Role.PARTNER_ENGAGEMENT_OFFICER)
        session.commit()
        officer_id = officer.id
    browsers = [browser(live, officer_id) for _ in "ab"]
    page = f"{live.portal_url}/organisations/new"
    form = {"name": "Hollins Park Primary", "kind": "school", "email_domains": "hollins.sch.uk"}
    statuses = at_once(
        *(
            (http, page, {**form, "csrf_token": token_of(http.get(page, timeout=10).text)})
            for http in browsers
        )
    )
    assert statuses == [302, 400]
    with live.session() as session:
        added = session.scalars(
            sa.select(Organisation).where(Organisation.name == "Hollins Park Primary")
        ).all()
        assert len(added) == 1


def test_a_request_issued_while_the_organisation_leaves_never_outlives_it(
    live: LiveStack, keyring: FileKeyring
) -> None:
    with live.session() as session:
        world = build_world(session, keyring)
        officer = session.scalar(
            sa.select(User).where(User.organisation_id == world.worker.organisation_id)
        )
        assert officer is not None
        school_id = world.school.id
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def issue() -> None:
        with live.session() as session:
            found = World(**{name: session.merge(value) for name, value in vars(world).items()})
            barrier.wait()
            try:
                issued_to_the_school(session, keyring, found)
                session.commit()
                outcomes["issue"] = "issued"
            except RequestRefused:
                outcomes["issue"] = "refused"

    def leave() -> None:
        with live.session() as session:
            school = session.get(Organisation, school_id)
            assert school is not None
            actor = actor_for(session.merge(officer))
            barrier.wait()
            try:
                organisations.move(session, school, Move.LEAVE, None, uk_today(), actor=actor)
                session.commit()
                outcomes["leave"] = "left"
            except StageRefused:
                outcomes["leave"] = "refused"

    threads = [threading.Thread(target=issue), threading.Thread(target=leave)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) in (["issued", "refused"], ["left", "refused"]), outcomes
    with live.session() as session:
        school = session.get(Organisation, school_id)
        assert school is not None
        still_open = session.scalar(
            sa.select(sa.func.count())
            .select_from(DelegationRequest)
            .where(
                DelegationRequest.partner_organisation_id == school_id,
                DelegationRequest.status == RequestStatus.ISSUED,
            )
        )
        assert (school.stage == OrganisationStage.LEFT) == (still_open == 0)


def test_a_suspension_while_a_partner_lead_is_approved_is_never_undone(
    live: LiveStack, keyring: FileKeyring
) -> None:
    with live.session() as session:
        council = make_organisation(session, OrganisationKind.COUNCIL)
        admin = make_user(session, council, Role.PORTAL_ADMIN)
        officer = make_user(session, council, Role.IG_OFFICER)
        school = make_organisation(session)
        newcomer = make_user(session, school, Role.PARTNER_CONTRIBUTOR, status=UserStatus.PENDING)
        change = changes.propose_partner_lead(session, newcomer, proposer=admin)
        session.commit()
        ids = (officer.id, newcomer.id, change.id)

    outcome: list[ChangeStatus] = []

    def approve() -> None:
        with live.session() as session:
            approver = session.get(User, ids[0])
            found = session.get(OrganisationChange, ids[2])
            assert approver is not None and found is not None
            outcome.append(
                decisions.approve(session, RecordCipher(keyring, session), found, approver)
            )
            session.commit()

    with live.session() as narrowing:
        person = narrowing.get(User, ids[1])
        assert person is not None
        people.suspend(narrowing, None, person)  # at once, written but not yet committed
        narrowing.flush()
        approving = threading.Thread(target=approve)
        approving.start()
        approving.join(timeout=1.5)  # the approval waits for the person's row
        narrowing.commit()
    approving.join(timeout=10)

    assert outcome == [ChangeStatus.SUPERSEDED]
    with live.session() as session:
        person = session.get(User, ids[1])
        assert person is not None and person.status == UserStatus.SUSPENDED
        assert Role.PARTNER_LEAD not in person.roles


def test_a_provider_switched_off_while_a_change_to_it_is_approved_stays_off(
    live: LiveStack, keyring: FileKeyring
) -> None:
    with live.session() as session:
        council = make_organisation(session, OrganisationKind.COUNCIL)
        admin = make_user(session, council, Role.PORTAL_ADMIN)
        officer = make_user(session, council, Role.IG_OFFICER)
        school = make_organisation(session)
        cipher = RecordCipher(keyring, session)
        spec = ProviderSpec(
            organisation=school.name,
            slug=f"race-{school.id.hex[:8]}",
            display_name="Race",
            issuer=f"https://{school.id.hex[:8]}.idp.test",
            client_id="portal",
            allowed_email_domains=["race.example"],
        )
        save_provider(session, cipher, spec, client_secret="a-secret-for-the-race")
        wider = spec.model_copy(update={"allowed_email_domains": ["race.example", "x.org"]})
        change = changes.propose_provider(
            session, cipher, school, wider, client_secret=None, proposer=admin
        )
        session.commit()
        officer_id, change_id, slug = officer.id, change.id, spec.slug

    outcome: list[ChangeStatus] = []

    def approve() -> None:
        with live.session() as session:
            approver = session.get(User, officer_id)
            found = session.get(OrganisationChange, change_id)
            assert approver is not None and found is not None
            outcome.append(
                decisions.approve(session, RecordCipher(keyring, session), found, approver)
            )
            session.commit()

    with live.session() as narrowing:
        provider = narrowing.scalar(
            sa.select(IdentityProvider).where(IdentityProvider.slug == slug)
        )
        assert provider is not None
        off = spec_of(provider).model_copy(update={"enabled": False})
        save_provider(narrowing, RecordCipher(keyring, narrowing), off)  # not yet committed
        narrowing.flush()
        approving = threading.Thread(target=approve)
        approving.start()
        approving.join(timeout=1.5)  # the approval waits for the provider's row
        narrowing.commit()
    approving.join(timeout=10)

    assert outcome == [ChangeStatus.SUPERSEDED]
    with live.session() as session:
        provider = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))
        assert provider is not None and not provider.enabled
        assert provider.allowed_email_domains == ["race.example"]
