"""Who can act for an organisation, and the changes that widen it waiting for a second person:
the access page, proposing, refusing, withdrawing, superseded changes and who is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.auth.oidc.provider_spec import ProviderSpec, spec_of
from portal.auth.oidc.registry import save_provider
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    AuditEvent,
    ChangeKind,
    ChangeStatus,
    IdentityProvider,
    Notification,
    NotificationKind,
    Organisation,
    OrganisationChange,
    OrganisationKind,
    OrganisationStage,
    OrganisationStatus,
    Role,
    User,
    UserStatus,
)
from portal.onboarding import changes, decisions
from portal.people import services as people
from tests.factories import csrf_token, make_organisation, make_user, sign_in

SECRET = "a-client-secret-nobody-should-see"  # noqa: S105 - a test value


@pytest.fixture
def council(db_session: Session) -> Organisation:
    return make_organisation(db_session, OrganisationKind.COUNCIL)


@pytest.fixture
def school(db_session: Session) -> Organisation:
    organisation = make_organisation(db_session, OrganisationKind.SCHOOL)
    organisation.email_domains = ["ashby.sch.uk"]
    db_session.flush()
    return organisation


@pytest.fixture
def admin(db_session: Session, council: Organisation) -> User:
    return make_user(db_session, council, Role.PORTAL_ADMIN)


@pytest.fixture
def officer(db_session: Session, council: Organisation) -> User:
    return make_user(db_session, council, Role.IG_OFFICER)


def client_of(app: Flask, person: User) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, person)
    return client


def post(client: FlaskClient, page: str, path: str, **data: Any) -> Any:
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def pending(db_session: Session) -> list[OrganisationChange]:
    db_session.expire_all()
    return list(
        db_session.scalars(
            sa.select(OrganisationChange).where(OrganisationChange.status == ChangeStatus.PENDING)
        )
    )


def actions(db_session: Session) -> list[str]:
    return list(db_session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_domains_added_wait_for_approval_and_removed_go_at_once(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    client = client_of(app, admin)
    page = f"/organisations/{school.id}/access"

    response = post(client, page, f"{page}/domains", domains="ashby.sch.uk\nEvil.example")
    assert response.status_code == 302
    db_session.refresh(school)
    assert school.email_domains == ["ashby.sch.uk"]  # not yet
    [change] = pending(db_session)
    assert change.kind == ChangeKind.EMAIL_DOMAINS
    assert change.proposal == {
        "domains": ["ashby.sch.uk", "evil.example"],
        "before": ["ashby.sch.uk"],
    }
    shown = client.get(page).get_data(as_text=True)
    assert "Change the email domains" in shown and "ashby.sch.uk, evil.example" in shown

    response = post(client, page, f"{page}/domains", domains="")
    assert response.status_code == 302
    db_session.refresh(school)
    assert school.email_domains == []  # removing is at once
    assert actions(db_session) == ["change_proposed", "organisation_changed"]


def test_a_domain_that_is_not_one_is_explained_and_nothing_changes(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    page = f"/organisations/{school.id}/access"
    response = post(client_of(app, admin), page, f"{page}/domains", domains="not a domain")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "govuk-error-summary" in text and "not a domain is not a domain name" in text
    assert pending(db_session) == [] and actions(db_session) == []


def test_the_approvers_are_told_without_personal_data(
    app: Flask, db_session: Session, school: Organisation, admin: User, officer: User
) -> None:
    client = client_of(app, admin)
    page = f"/organisations/{school.id}/access"
    post(client, page, f"{page}/self-provisioning", self_provisioning="on")
    # No partner lead yet: the IG officers are asked.
    told = db_session.scalars(sa.select(Notification)).all()
    assert [(n.kind, n.recipient_id, n.organisation_id) for n in told] == [
        (NotificationKind.CHANGE_AWAITING_APPROVAL, officer.id, school.id)
    ]
    assert told[0].request_id is None

    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    post(client, page, f"{page}/domains", domains="ashby.sch.uk\nashby-academy.org")
    told = db_session.scalars(
        sa.select(Notification).where(Notification.recipient_id == lead.id)
    ).all()
    assert len(told) == 1  # the school's own partner lead, once it has one


def test_a_partner_lead_proposes_a_colleague_from_the_access_page(
    app: Flask, db_session: Session, school: Organisation
) -> None:
    lead = make_user(db_session, school, Role.PARTNER_LEAD)
    colleague = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR, status=UserStatus.PENDING)
    client = client_of(app, lead)
    page = f"/organisations/{school.id}/access"
    assert colleague.display_name in client.get(page).get_data(as_text=True)

    response = post(client, page, f"{page}/partner-lead", person=str(colleague.id))

    assert response.status_code == 302
    [change] = pending(db_session)
    assert change.kind == ChangeKind.PARTNER_LEAD and change.proposed_by_id == lead.id
    # A partner lead cannot propose providers' domains or self-provisioning.
    token = csrf_token(client.get(page).get_data(as_text=True))
    refused = client.post(f"{page}/domains", data={"csrf_token": token, "domains": "x.org"})
    assert refused.status_code == 403

    # Approved by an IG officer: a waiting newcomer becomes an active partner lead.
    council = make_organisation(db_session, OrganisationKind.COUNCIL)
    officer = make_user(db_session, council, Role.IG_OFFICER)
    path = f"/approvals/{change.id}"
    assert post(client_of(app, officer), path, f"{path}/approve").status_code == 302
    db_session.refresh(colleague)
    assert colleague.status == UserStatus.ACTIVE and Role.PARTNER_LEAD in colleague.roles
    assert "user_approved" in actions(db_session)


def test_another_organisations_partner_lead_sees_nothing(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    change = changes.propose_self_provisioning(db_session, school, proposer=admin)
    stranger = make_user(db_session, make_organisation(db_session), Role.PARTNER_LEAD)
    client = client_of(app, stranger)

    assert client.get(f"/organisations/{school.id}/access").status_code == 404
    assert client.get(f"/approvals/{change.id}").status_code == 404
    assert "Turn self-provisioning on" not in client.get("/approvals").get_data(as_text=True)
    response = post(client, "/approvals", f"/approvals/{change.id}/approve")
    assert response.status_code == 404
    assert pending(db_session) == [change]


def test_refusing_needs_a_reason_that_stays_off_the_trail(
    app: Flask, db_session: Session, school: Organisation, admin: User, officer: User
) -> None:
    change = changes.propose_self_provisioning(db_session, school, proposer=admin)
    client = client_of(app, officer)
    path = f"/approvals/{change.id}"
    page = client.get(path).get_data(as_text=True)
    assert "Approve" in page and "Refuse" in page and "Self-provisioning" in page

    empty = post(client, path, f"{path}/refuse", reason="  ")
    assert empty.status_code == 400
    assert "Enter why you are refusing this change" in empty.get_data(as_text=True)
    assert pending(db_session) == [change]

    reason = "The school has not yet signed the agreement"
    assert post(client, path, f"{path}/refuse", reason=reason).status_code == 302
    db_session.refresh(change)
    db_session.refresh(school)
    assert change.status == ChangeStatus.REFUSED and change.refusal_reason == reason
    assert change.decided_by_id == officer.id and not school.self_provisioning
    [event] = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "change_refused")
    ).all()
    assert reason not in str(event.details)
    history = client_of(app, admin).get(f"/organisations/{school.id}/access")
    assert reason in history.get_data(as_text=True)

    # Decided once: approving it now changes nothing.
    again = post(client, path, f"{path}/approve")
    assert again.status_code == 400 and "already refused" in again.get_data(as_text=True)
    db_session.refresh(school)
    assert not school.self_provisioning


def test_the_proposer_withdraws_their_change(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    change = changes.propose_self_provisioning(db_session, school, proposer=admin)
    other_admin = make_user(db_session, admin.organisation, Role.PORTAL_ADMIN)
    page = f"/organisations/{school.id}/access"
    path = f"{page}/changes/{change.id}/withdraw"

    # Another admin does not even see it to withdraw.
    assert post(client_of(app, other_admin), page, path).status_code == 404
    assert post(client_of(app, admin), page, path).status_code == 302
    db_session.refresh(change)
    assert change.status == ChangeStatus.WITHDRAWN
    assert actions(db_session)[-1] == "change_withdrawn"


def brook(db_session: Session, keyring: FileKeyring, school: Organisation) -> IdentityProvider:
    spec = ProviderSpec(
        organisation=school.name,
        slug="brook",
        display_name="Brookfield",
        issuer="https://brook.idp.test",
        client_id="portal",
        allowed_email_domains=["ashby.sch.uk"],
    )
    saved = save_provider(db_session, RecordCipher(keyring, db_session), spec, client_secret=SECRET)
    saved.trusted_since = datetime.now(UTC) - timedelta(days=365)
    saved.tested_at = datetime.now(UTC) - timedelta(days=300)
    db_session.flush()
    return saved


def test_a_change_whose_provider_changed_since_is_superseded_not_applied(
    db_session: Session, keyring: FileKeyring, school: Organisation, admin: User, officer: User
) -> None:
    provider = brook(db_session, keyring, school)
    cipher = RecordCipher(keyring, db_session)
    wider = spec_of(provider).model_copy(
        update={"allowed_email_domains": ["ashby.sch.uk", "x.org"]}
    )
    change = changes.propose_provider(
        db_session, cipher, school, wider, client_secret=None, proposer=admin
    )
    # Meanwhile the admin switches the provider off (narrowing: at once).
    save_provider(db_session, cipher, spec_of(provider).model_copy(update={"enabled": False}))

    status = decisions.approve(db_session, cipher, change, officer)

    assert status == ChangeStatus.SUPERSEDED
    db_session.refresh(provider)
    assert not provider.enabled and provider.allowed_email_domains == ["ashby.sch.uk"]
    assert actions(db_session)[-1] == "change_superseded"


def test_an_approved_provider_change_is_untested_and_newly_trusted(
    db_session: Session, keyring: FileKeyring, school: Organisation, admin: User, officer: User
) -> None:
    provider = brook(db_session, keyring, school)
    cipher = RecordCipher(keyring, db_session)
    wider = spec_of(provider).model_copy(update={"require_strong_amr": False, "client_id": "new"})
    change = changes.propose_provider(
        db_session, cipher, school, wider, client_secret="a-brand-new-client-secret", proposer=admin
    )
    assert change.proposal["widens"] == ["client_id"]
    assert "a-brand-new-client-secret" not in str(change.proposal)

    assert decisions.approve(db_session, cipher, change, officer) == ChangeStatus.APPROVED

    db_session.refresh(provider)
    assert provider.client_id == "new" and provider.tested_at is None
    assert datetime.now(UTC) - provider.trusted_since < timedelta(minutes=1)
    assert cipher.open_text(provider, "client_secret_enc") == "a-brand-new-client-secret"
    assert change.client_secret_enc is None


def test_a_provider_change_the_registry_now_refuses_is_explained_and_stays_pending(
    app: Flask, db_session: Session, keyring: FileKeyring, school: Organisation, admin: User
) -> None:
    cipher = RecordCipher(keyring, db_session)
    spec = ProviderSpec(
        organisation=school.name,
        slug="late",
        display_name="Late",
        issuer="https://shared.idp.test",
        client_id="portal",
    )
    change = changes.propose_provider(
        db_session, cipher, school, spec, client_secret=SECRET, proposer=admin
    )
    # Meanwhile an operator registers the same issuer for another organisation.
    other = make_organisation(db_session)
    taken = spec.model_copy(update={"organisation": other.name, "slug": "first"})
    save_provider(db_session, cipher, taken, client_secret=SECRET)
    db_session.commit()

    officer = make_user(db_session, admin.organisation, Role.IG_OFFICER)
    db_session.commit()
    client = client_of(app, officer)
    path = f"/approvals/{change.id}"
    answer = post(client, path, f"{path}/approve")

    assert answer.status_code == 400
    text = answer.get_data(as_text=True)
    assert "It cannot be applied as it stands" in text and "is already registered" in text
    assert pending(db_session) == [change]
    assert (
        db_session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == "late"))
        is None
    )


def test_the_registry_restarts_a_providers_30_days_whenever_it_widens(
    db_session: Session, keyring: FileKeyring, school: Organisation
) -> None:
    provider = brook(db_session, keyring, school)
    cipher = RecordCipher(keyring, db_session)
    long_ago = provider.trusted_since

    renamed = spec_of(provider).model_copy(update={"display_name": "Brookfield Academy"})
    save_provider(db_session, cipher, renamed, client_secret="a-rotated-client-secret")
    assert provider.trusted_since == long_ago and provider.tested_at is not None

    wider = spec_of(provider).model_copy(update={"allowed_tenants": []})  # none before: same
    save_provider(db_session, cipher, wider)
    assert provider.trusted_since == long_ago

    mapped = spec_of(provider).model_copy(update={"group_roles": {"all": Role.PARTNER_CONTRIBUTOR}})
    save_provider(db_session, cipher, mapped)  # an operator's command: at once, but...
    assert datetime.now(UTC) - provider.trusted_since < timedelta(minutes=1)
    assert provider.tested_at is None and provider.tested_by_id is None


def test_an_admin_cannot_approve_their_own_change_through_a_person_they_let_in(
    db_session: Session,
    keyring: FileKeyring,
    council: Organisation,
    school: Organisation,
    admin: User,
) -> None:
    change = changes.propose_domains(db_session, school, ["ashby.sch.uk", "x.org"], proposer=admin)
    # A second council account the admin controls: approved by the admin as IG officer, or
    # arriving with IG officer from the council's identity provider and approved by them.
    given = make_user(db_session, council, status=UserStatus.PENDING)
    people.approve(db_session, admin, given, frozenset({Role.IG_OFFICER}))
    mapped = make_user(db_session, council, Role.IG_OFFICER, status=UserStatus.PENDING)
    people.approve(db_session, admin, mapped, frozenset({Role.IG_OFFICER}))
    cipher = RecordCipher(keyring, db_session)

    for person in (given, mapped):
        reason = changes.refusal_to_decide(person, change)
        assert reason is not None and "gave you the role" in reason
        with pytest.raises(changes.ChangeRefused):
            decisions.approve(db_session, cipher, change, person)
        assert person.id not in changes.approvers(db_session, change)
    db_session.refresh(change)
    assert change.status == ChangeStatus.PENDING

    # An IG officer someone else made decides it.
    other = make_user(db_session, council, Role.PORTAL_ADMIN)
    officer = make_user(db_session, council, status=UserStatus.PENDING)
    people.approve(db_session, other, officer, frozenset({Role.IG_OFFICER}))
    assert changes.refusal_to_decide(officer, change) is None


def test_an_ig_officer_is_offered_no_proposal_they_cannot_make(
    app: Flask, db_session: Session, school: Organisation, officer: User
) -> None:
    make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    page = client_of(app, officer).get(f"/organisations/{school.id}/access")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Propose a partner lead" not in text and "Propose a change" not in text


def test_an_emergency_rotation_supersedes_a_proposal_that_carries_a_secret(
    db_session: Session, keyring: FileKeyring, school: Organisation, admin: User, officer: User
) -> None:
    provider = brook(db_session, keyring, school)
    cipher = RecordCipher(keyring, db_session)
    wider = spec_of(provider).model_copy(update={"client_id": "new"})
    change = changes.propose_provider(
        db_session, cipher, school, wider, client_secret="the-leaked-secret", proposer=admin
    )
    assert "the-leaked-secret" not in str(change.proposal)
    # The secret leaks; the admin rotates it at once (it widens nothing).
    save_provider(db_session, cipher, spec_of(provider), client_secret="the-rotated-secret")

    assert decisions.approve(db_session, cipher, change, officer) == ChangeStatus.SUPERSEDED

    db_session.refresh(provider)
    assert provider.client_id == "portal"
    assert cipher.open_text(provider, "client_secret_enc") == "the-rotated-secret"


def test_a_refused_application_undoes_only_the_approval(
    db_session: Session, keyring: FileKeyring, school: Organisation, admin: User, officer: User
) -> None:
    cipher = RecordCipher(keyring, db_session)
    spec = ProviderSpec(
        organisation=school.name,
        slug="late",
        display_name="Late",
        issuer="https://shared.idp.test",
        client_id="portal",
    )
    change = changes.propose_provider(
        db_session, cipher, school, spec, client_secret=SECRET, proposer=admin
    )
    other = make_organisation(db_session)
    taken = spec.model_copy(update={"organisation": other.name, "slug": "first"})
    save_provider(db_session, cipher, taken, client_secret=SECRET)  # in the same transaction

    with pytest.raises(changes.ChangeRefused, match="cannot be applied as it stands"):
        decisions.approve(db_session, cipher, change, officer)

    # The savepoint undid the approval alone: the rest of the transaction stands.
    assert pending(db_session) == [change]
    slugs = db_session.scalars(sa.select(IdentityProvider.slug)).all()
    assert "first" in slugs and "late" not in slugs


def test_nothing_is_proposed_or_approved_for_an_organisation_that_has_left(
    db_session: Session, keyring: FileKeyring, school: Organisation, admin: User, officer: User
) -> None:
    change = changes.propose_self_provisioning(db_session, school, proposer=admin)
    school.stage = OrganisationStage.LEFT
    db_session.flush()

    with pytest.raises(changes.ChangeRefused, match="has left the pilot"):
        changes.propose_domains(db_session, school, ["x.org"], proposer=admin)
    with pytest.raises(changes.ChangeRefused, match="has left the pilot"):
        decisions.approve(db_session, RecordCipher(keyring, db_session), change, officer)
    db_session.refresh(school)
    assert not school.self_provisioning and school.email_domains == ["ashby.sch.uk"]
    decisions.refuse(db_session, change, officer, "It has left")  # refusing is still fine


def test_the_pages_explain_that_a_suspended_organisation_cannot_be_widened(
    app: Flask, db_session: Session, school: Organisation, admin: User
) -> None:
    school.status = OrganisationStatus.SUSPENDED
    db_session.commit()
    client = client_of(app, admin)
    page = f"/organisations/{school.id}/access"

    for path, data in (
        (f"{page}/domains", {"domains": "ashby.sch.uk\nx.org"}),
        (f"{page}/self-provisioning", {"self_provisioning": "on"}),
        (f"/admin/organisations/{school.id}/self-provisioning", {"self_provisioning": "on"}),
    ):
        response = post(client, page, path, **data)
        text = response.get_data(as_text=True)
        assert response.status_code == 400, path
        assert "govuk-error-summary" in text and "is suspended: reinstate it" in text
    assert pending(db_session) == []


def test_a_second_person_proposing_the_same_change_is_told_it_is_waiting(
    app: Flask, db_session: Session, council: Organisation, school: Organisation, admin: User
) -> None:
    first = changes.propose_domains(db_session, school, ["ashby.sch.uk", "x.org"], proposer=admin)
    again = changes.propose_domains(db_session, school, ["ashby.sch.uk", "x.org"], proposer=admin)
    assert again is first  # a double-click: one proposal
    db_session.commit()

    other = make_user(db_session, council, Role.PARTNER_ENGAGEMENT_OFFICER)
    db_session.commit()
    page = f"/organisations/{school.id}/access"
    response = post(client_of(app, other), page, f"{page}/domains", domains="ashby.sch.uk\nx.org")

    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"{admin.display_name} already proposed this change" in text
    assert pending(db_session) == [first]
