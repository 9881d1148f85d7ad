"""The demo data: every role signs in through the development OpenID provider, children are
stored only encrypted, seeding is idempotent, and sign-in and sign-out are audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.processes import free_port
from portal import db
from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.demo.identity import (
    REGISTRY_FILE,
    demo_providers,
    dev_provider_config,
    prepare_client_secrets,
    registration_steps,
    unregistered_providers,
)
from portal.demo.seed import (
    CASES,
    COUNCIL,
    HEALTH,
    NEWCOMERS,
    PEOPLE,
    POLICE,
    SCHOOLS,
    UNREGISTERED_SCHOOL,
    DemoPerson,
    seed_demo_data,
)
from portal.models import (
    AuditEvent,
    Child,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    User,
    UserStatus,
)
from tests.conftest import both_backends
from tests.support.demo_identity import providers_on, runtime_keyring, unregistered_on
from tests.support.dev_oidc import DevOidcProvider, sign_in_at_provider, sign_out_at_provider
from tests.support.live_portal import Browser, LiveStack, live_portal, onward


def seed(app: Flask) -> str:
    with app.app_context():
        session = db.session()
        summary = seed_demo_data(session, providers_on())
        session.commit()
    return summary


@both_backends
def test_seed_makes_the_pilot_and_one_person_for_every_role(
    app: Flask, db_session: Session, keyring: FileKeyring
) -> None:
    assert "Seeded 11 organisations" in seed(app)

    found = list(db_session.scalars(sa.select(Organisation)))
    kinds = [org.kind for org in found]
    assert kinds.count(OrganisationKind.SCHOOL) == len(SCHOOLS) + 2 == 7
    # Partners at each stage of joining the pilot; the ones requests can go to are live.
    assert {org.stage for org in found} == set(OrganisationStage) - {OrganisationStage.LEFT}
    live = {org.name for org in found if org.stage == OrganisationStage.LIVE}
    assert live == {COUNCIL, *SCHOOLS, POLICE, HEALTH}
    assert {OrganisationKind.COUNCIL, OrganisationKind.POLICE, OrganisationKind.HEALTH} <= set(
        kinds
    )
    users = list(db_session.scalars(sa.select(User)))
    assert {role for user in users for role in user.roles} == set(Role)

    children = list(db_session.scalars(sa.select(Child)))
    assert len(children) == sum(len(case.children) for case in CASES)
    assert {child.cms_person_id for child in children} == {
        child.person_id for case in CASES for child in case.children
    }
    names = {RecordCipher(keyring, db_session).open_text(child, "name_enc") for child in children}
    assert "Amelia Hart" in names

    assert "already there" in seed(app)
    assert db_session.scalar(sa.select(sa.func.count()).select_from(User)) == len(PEOPLE)


@pytest.fixture(scope="module")
def demo_stack(
    postgres_admin: Engine, keyring: FileKeyring, keyring_path: Path
) -> Iterator[tuple[LiveStack, DevOidcProvider]]:
    """The demo as `make demo` runs it, on free ports: the portal seeded with the demo data and
    providers, and the development OpenID provider configured from the same registry file."""
    ports = {spec.slug: free_port() for spec, _secret in providers_on()}
    providers = providers_on(ports)
    with live_portal(postgres_admin, keyring, keyring_path) as live:
        with live.session() as session, session.begin():
            with runtime_keyring(keyring):
                seed_demo_data(session, providers)
        config = dev_provider_config(providers, live.portal_url)
        with DevOidcProvider(config["providers"]) as provider:
            yield live, provider


def test_a_work_email_address_leads_to_the_organisations_provider(
    demo_stack: tuple[LiveStack, DevOidcProvider],
) -> None:
    """The address finds the organisation; the answer is a page that moves on to its
    provider, never a redirect to another site (the CSP's form-action 'self' would stop a
    browser there), and the way on keeps where the person was going."""
    live, provider = demo_stack
    browser = Browser(live)
    token = browser.csrf()
    answer = browser.http.post(
        live.portal_url + "/sign-in?next=/inbox",
        data={"csrf_token": token, "email": "dsl-1@ashbylane.sch.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert not answer.is_redirect and answer.status_code == 200
    assert "Ashby Lane Primary School" in answer.text
    start = onward(answer)
    assert start == "/sign-in/start/ashby-lane?next=/inbox"
    authorize = browser.get(start)
    assert authorize.headers["Location"].startswith(provider.issuer("ashby-lane"))
    callback = sign_in_at_provider(browser.http, authorize.headers["Location"], "dsl-1")
    home = browser.http.get(callback, allow_redirects=False, timeout=10)
    assert home.headers["Location"] == "/inbox"


@pytest.mark.parametrize("person", PEOPLE, ids=lambda person: person.subject)
def test_every_demo_person_signs_in_and_out_through_their_provider(
    demo_stack: tuple[LiveStack, DevOidcProvider], person: DemoPerson
) -> None:
    live, _provider = demo_stack
    with live.session() as session:
        organisation = session.scalar(
            sa.select(Organisation).where(Organisation.name == person.organisation)
        )
        provider = session.scalar(
            sa.select(IdentityProvider).where(IdentityProvider.organisation == organisation)
        )
        assert provider is not None
        slug = provider.slug
    browser = Browser(live)
    answer = browser.sign_in(slug, person.subject)
    assert answer.status_code == 302, answer.text
    assert browser.signed_in_as() == person.name

    signed_out = browser.sign_out()
    assert sign_out_at_provider(browser.http, onward(signed_out)).endswith("/signed-out")
    assert browser.signed_in_as() is None
    with live.session() as session:
        actions = list(session.scalars(sa.select(AuditEvent.action)))
    assert AuditAction.SIGN_IN.value in actions and AuditAction.SIGN_OUT.value in actions


def test_a_newcomer_waits_for_their_partner_lead(
    demo_stack: tuple[LiveStack, DevOidcProvider],
) -> None:
    live, _provider = demo_stack
    newcomer = NEWCOMERS[0]
    answer = Browser(live).sign_in("ashby-lane", newcomer.subject)
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    with live.session() as session:
        user = session.scalar(sa.select(User).where(User.subject == newcomer.subject))
        assert user is not None and user.status == UserStatus.PENDING


def test_a_personal_microsoft_account_is_refused(
    demo_stack: tuple[LiveStack, DevOidcProvider],
) -> None:
    live, _provider = demo_stack
    answer = Browser(live).sign_in("ashby-lane", "personal-1")
    assert answer.status_code == 403 and "consumer_tenant" in answer.text


def test_demo_prepare_makes_owner_only_secrets_the_registry_file_reads(tmp_path: Path) -> None:
    registry = tmp_path / "providers.toml"
    text = REGISTRY_FILE.read_text(encoding="utf-8")
    registry.write_text(text.replace('"instance/demo/oidc/', f'"{tmp_path}/oidc/'), "utf-8")

    made = prepare_client_secrets(registry)
    # Every provider but the private_key_jwt one, the unregistered school's included.
    assert len(made) == 9
    assert all(path.stat().st_mode & 0o077 == 0 for path in made)
    assert prepare_client_secrets(registry) == []  # a second run keeps them

    loaded = demo_providers(registry)
    unregistered = unregistered_providers(registry)
    assert [spec.organisation for spec, _ in unregistered] == [UNREGISTERED_SCHOOL]
    assert {spec.organisation for spec, _ in (*loaded, *unregistered)} == {
        p.organisation for p in (*PEOPLE, *NEWCOMERS)
    } | set(SCHOOLS)
    for spec, secret in (*loaded, *unregistered):
        private = spec.client_auth_method.value == "private_key_jwt"
        assert (secret is None) if private else (secret and len(secret) >= 32)


def test_council_people_have_teams(app: Flask, db_session: Session) -> None:
    seed(app)
    council_people = list(
        db_session.scalars(
            sa.select(User).join(Organisation).where(Organisation.kind == OrganisationKind.COUNCIL)
        )
    )
    assert council_people and all(person.team is not None for person in council_people)


def test_the_onboarding_agencys_first_sign_in_is_its_test(
    demo_stack: tuple[LiveStack, DevOidcProvider],
) -> None:
    live, _provider = demo_stack
    newcomer = NEWCOMERS[1]
    answer = Browser(live).sign_in("northmoor-yjs", newcomer.subject)
    assert answer.headers["Location"] == "/sign-in/waiting-for-approval"
    with live.session() as session:
        provider = session.scalar(
            sa.select(IdentityProvider).where(IdentityProvider.slug == "northmoor-yjs")
        )
        user = session.scalar(sa.select(User).where(User.subject == newcomer.subject))
        assert provider is not None and user is not None
        assert provider.organisation.stage == OrganisationStage.ONBOARDING
        assert provider.tested_by_id == user.id and user.status == UserStatus.PENDING


def test_the_unregistered_school_is_served_but_neither_seeded_nor_loaded(
    app: Flask, db_session: Session
) -> None:
    """Its provider is the development OpenID provider's, not the portal's, until an admin
    registers it through the pages; `make demo` says what to enter."""
    seed(app)
    assert UNREGISTERED_SCHOOL not in set(db_session.scalars(sa.select(Organisation.name)))
    assert not db_session.scalar(
        sa.select(IdentityProvider).where(IdentityProvider.slug == "juniper-hill")
    )
    assert "juniper-hill" not in {spec.slug for spec, _ in providers_on()}
    config = dev_provider_config(unregistered_on(), "http://127.0.0.1:5000")
    (served,) = config["providers"]
    assert served["name"] == "juniper-hill"
    assert [account["sub"] for account in served["accounts"]] == ["lead-1"]
    steps = registration_steps()
    assert "Issuer: http://127.0.0.1:9110" in steps
    assert "instance/demo/oidc/juniper-hill.secret" in steps


@both_backends
def test_the_guide_prints_every_sign_in_address_and_case_reference(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from portal import cli

    seed(app)
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    runner = CliRunner()
    issued = runner.invoke(cli.cli, ["demo", "requests"], catch_exceptions=False)
    assert issued.output.startswith("Issued 3 open requests"), issued.output
    again = runner.invoke(cli.cli, ["demo", "requests"], catch_exceptions=False)
    assert "nothing changed" in again.output
    result = runner.invoke(cli.cli, ["demo", "guide"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = result.output
    for person in (*PEOPLE, *NEWCOMERS):
        line = next(line for line in printed.splitlines() if person.email in line)
        assert person.name in line and person.organisation in line
    for case in CASES:
        line = next(
            line for line in printed.splitlines() if line.strip().startswith(case.reference)
        )
        assert "Children in Need Team East" in line
        assert f"{len(case.children)} child" in line
    assert "Social worker" in printed and "Not yet in the portal" in printed
    # Waiting requests are counted from the database: the seed issues two to Ashby Lane.
    lead = next(line for line in printed.splitlines() if "dsl-1@" in line)
    assert lead.endswith("has 2 requests to answer")
