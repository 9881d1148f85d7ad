"""Seeds a fictional council, its pilot partners (live ones, and some at other stages of
joining), children, cases and one person per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.crypto import runtime
from portal.crypto.records import RecordCipher
from portal.models import (
    Case,
    ChecklistItem,
    ChecklistRecord,
    Child,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    RoleAssignment,
    SharingAgreement,
    Team,
    User,
    UserStatus,
)
from portal.pilot.demo import add_pilot_history
from reference_cms.demo_identifiers import demo_identifiers
from reference_cms.seed import DEMO_CASES
from reference_cms.store import Case as CmsDemoCase

COUNCIL = "Northmoor County Council"
SCHOOLS = (
    "Ashby Lane Primary School",
    "Brookfield Academy",
    "Castlegate Church of England Primary School",
    "Dunmore High School",
    "Elmwood Community Primary School",
)
POLICE = "Northmoor Constabulary"
HEALTH = "Northmoor Community Health NHS Trust"
# Partners at other stages of joining the pilot. Only the onboarding one has an identity
# provider (approved days ago, not yet tested); the paused one's was withdrawn.
PROPOSED_SCHOOL = "Fairfield Primary School"
ONBOARDING_AGENCY = "Northmoor Youth Justice Service"
PAUSED_SCHOOL = "Greystones Academy"
# A school not in the portal at all: nothing here seeds it. Its identity provider is in
# config/demo-identity-providers.toml as an [[unregistered_provider]], for its onboarding to be
# walked through the pages from the start.
UNREGISTERED_SCHOOL = "Juniper Hill Primary School"
JOINING = {
    PROPOSED_SCHOOL: (OrganisationKind.SCHOOL, OrganisationStage.PROPOSED),
    ONBOARDING_AGENCY: (OrganisationKind.OTHER, OrganisationStage.ONBOARDING),
    PAUSED_SCHOOL: (OrganisationKind.SCHOOL, OrganisationStage.PAUSED),
}


# Each organisation's e-mail domain, as its identity provider asserts addresses.
EMAIL_DOMAINS = {
    COUNCIL: "northmoor.example",
    SCHOOLS[0]: "ashbylane.sch.example",
    SCHOOLS[1]: "brookfield.sch.example",
    SCHOOLS[2]: "castlegate.sch.example",
    SCHOOLS[3]: "dunmore.sch.example",
    SCHOOLS[4]: "elmwood.sch.example",
    POLICE: "northmoor.police.example",
    HEALTH: "nhs.example",
    PROPOSED_SCHOOL: "fairfield.sch.example",
    ONBOARDING_AGENCY: "yjs.northmoor.example",
    PAUSED_SCHOOL: "greystones.sch.example",
    UNREGISTERED_SCHOOL: "juniperhill.sch.example",
}
# Ashby Lane approves new people by hand (its partner lead does); the others let anyone their
# provider vouches for, at their own domain, in as a contributor.
APPROVES_NEW_PEOPLE = frozenset({SCHOOLS[0]})


@dataclass(frozen=True)
class DemoPerson:
    subject: str
    name: str
    organisation: str
    roles: tuple[Role, ...]
    team: str | None = None

    @property
    def email(self) -> str:
        return f"{self.subject}@{EMAIL_DOMAINS[self.organisation]}"


PEOPLE = (
    DemoPerson("sw-1", "Sam Okafor", COUNCIL, (Role.SOCIAL_WORKER,), "Children in Need Team East"),
    DemoPerson("tm-1", "Priya Raman", COUNCIL, (Role.TEAM_MANAGER,), "Children in Need Team East"),
    DemoPerson("ig-1", "Gareth Lloyd", COUNCIL, (Role.IG_OFFICER,), "Information Governance"),
    DemoPerson("admin-1", "Hannah Byrne", COUNCIL, (Role.PORTAL_ADMIN,), "Digital Services"),
    DemoPerson(
        "peo-1", "Rachel Adeyemi", COUNCIL, (Role.PARTNER_ENGAGEMENT_OFFICER,), "Partnerships"
    ),
    DemoPerson("dsl-1", "Joanne Mercer", SCHOOLS[0], (Role.PARTNER_LEAD,)),
    DemoPerson("school-1", "Tom Ashworth", SCHOOLS[0], (Role.PARTNER_CONTRIBUTOR,)),
    DemoPerson("school-2", "Aisha Khan", SCHOOLS[1], (Role.PARTNER_CONTRIBUTOR,)),
    DemoPerson("police-1", "DC Mark Fielding", POLICE, (Role.PARTNER_CONTRIBUTOR,)),
    DemoPerson("health-1", "Claire Dunn", HEALTH, (Role.PARTNER_CONTRIBUTOR,)),
)
# People the providers know but the portal does not yet: their first sign-in shows the
# approval and refusal paths.
NEWCOMERS = (
    DemoPerson("new-1", "Ben Carter", SCHOOLS[0], ()),
    # The first through the onboarding agency's provider: signing in makes its test sign-in.
    DemoPerson("yjs-1", "Marcus Obi", ONBOARDING_AGENCY, ()),
    # Juniper Hill's safeguarding lead, once its provider is registered: its partner lead to be.
    DemoPerson("lead-1", "Grace Whitfield", UNREGISTERED_SCHOOL, ()),
)

# The reference CMS's demo cases: the portal holds the same cases, allocated to a social worker,
# with the identifiers the CMS holds for each child (reference_cms/demo_identifiers.py).
CASES = DEMO_CASES


def seed_demo_data(db_session: Session, providers: list[tuple[ProviderSpec, str | None]]) -> str:
    """Add the demo data and its identity providers once; a second run changes nothing."""
    if db_session.scalar(sa.select(Organisation).where(Organisation.name == COUNCIL)):
        return "The demo data is already there; nothing changed."
    cipher = RecordCipher(runtime.keyring(), db_session)
    organisations = _organisations(db_session)
    for spec, secret in providers:
        provider = save_provider(db_session, cipher, spec, client_secret=secret)
        # The demo's organisations have been in the pilot for a while: their providers were
        # approved long before anyone first signs in (no 30-day wait).
        joined = 3 if spec.organisation in JOINING else 365
        provider.trusted_since = datetime.now(UTC) - timedelta(days=joined)
        provider.organisation.email_domains = sorted(
            {*provider.organisation.email_domains, *spec.allowed_email_domains}
        )
    issuers = {spec.organisation: spec.issuer for spec, _secret in providers}
    teams = _teams(db_session, organisations[COUNCIL])
    users = [_person(db_session, person, organisations, teams, issuers) for person in PEOPLE]
    db_session.flush()
    worker = next(user for user in users if user.subject == "sw-1")
    officer = next(user for user in users if user.subject == "peo-1")
    _checklists(db_session, organisations, officer)
    for cms_case in CASES:
        _case(db_session, cipher, cms_case, teams[cms_case.team], worker)
    add_pilot_history(db_session, cipher)
    record_event(db_session, AuditAction.DEMO_DATA_SEEDED, details={"cases": len(CASES)})
    return (
        f"Seeded {len(organisations)} organisations, {len(providers)} identity providers, "
        f"{len(users)} people and {len(CASES)} cases with fictional children."
    )


def _organisations(db_session: Session) -> dict[str, Organisation]:
    kinds = {COUNCIL: OrganisationKind.COUNCIL, POLICE: OrganisationKind.POLICE}
    kinds[HEALTH] = OrganisationKind.HEALTH
    kinds.update(dict.fromkeys(SCHOOLS, OrganisationKind.SCHOOL))
    organisations = {}
    for number, (name, kind) in enumerate(kinds.items(), start=1):
        is_partner = kind != OrganisationKind.COUNCIL
        organisation = Organisation(
            name=name,
            kind=kind,
            stage=OrganisationStage.LIVE,
            self_provisioning=is_partner and name not in APPROVES_NEW_PEOPLE,
        )
        db_session.add(organisation)
        if is_partner:
            db_session.add(_agreement(organisation, number))
        organisations[name] = organisation
    for number, (name, (kind, stage)) in enumerate(JOINING.items(), start=len(kinds) + 1):
        organisation = Organisation(
            name=name, kind=kind, stage=stage, email_domains=[EMAIL_DOMAINS[name]]
        )
        db_session.add(organisation)
        if stage != OrganisationStage.PROPOSED:
            db_session.add(_agreement(organisation, number))
        organisations[name] = organisation
    db_session.flush()
    return organisations


def _checklists(db_session: Session, organisations: dict[str, Organisation], officer: User) -> None:
    """What the partner engagement officer recorded: the DPIA and MFA decision of every partner
    with an agreement, and the live partners' providers tested when they joined."""
    for number, (name, organisation) in enumerate(organisations.items(), start=1):
        if organisation.kind == OrganisationKind.COUNCIL or name == PROPOSED_SCHOOL:
            continue
        required = name == HEALTH  # NHS CIS2 demands AAL3: the others sign in on site
        db_session.add_all(
            [
                ChecklistRecord(
                    organisation_id=organisation.id,
                    item=ChecklistItem.DPIA,
                    value=f"NCC-DPIA-2026-{number:03d}",
                    recorded_by_id=officer.id,
                ),
                ChecklistRecord(
                    organisation_id=organisation.id,
                    item=ChecklistItem.MFA_DECISION,
                    value="required" if required else "not_required",
                    reason=None
                    if required
                    else "Staff sign in on the organisation's managed devices; agreed with "
                    "its data protection officer",
                    recorded_by_id=officer.id,
                ),
            ]
        )
    providers = db_session.scalars(
        sa.select(IdentityProvider)
        .join(Organisation)
        .where(
            Organisation.kind != OrganisationKind.COUNCIL,
            Organisation.stage == OrganisationStage.LIVE,
        )
    )
    for provider in providers:
        provider.tested_at = provider.trusted_since + timedelta(days=2)


def _agreement(organisation: Organisation, number: int) -> SharingAgreement:
    return SharingAgreement(
        organisation=organisation,
        name=f"Northmoor information-sharing agreement NCC-ISA-{number:03d}",
        version="2.1",
        signed_on=date(2026, 9, 1),
        signatory_roles="Headteacher or chief officer; Director of Children's Services",
        review_on=date(2027, 8, 31),
    )


def _teams(db_session: Session, council: Organisation) -> dict[str, Team]:
    names = (
        "Children in Need Team East",
        "Information Governance",
        "Digital Services",
        "Partnerships",
    )
    teams = {name: Team(organisation=council, name=name) for name in names}
    teams["Children in Need Team East"].contact_email = "cin-east@northmoor.example"
    db_session.add_all(teams.values())
    return teams


def _person(
    db_session: Session,
    person: DemoPerson,
    organisations: dict[str, Organisation],
    teams: dict[str, Team],
    issuers: dict[str, str],
) -> User:
    user = User(
        issuer=issuers[person.organisation],
        subject=person.subject,
        organisation=organisations[person.organisation],
        team=teams[person.team] if person.team else None,
        email=person.email,
        display_name=person.name,
        status=UserStatus.ACTIVE,
    )
    user.role_assignments = [RoleAssignment(role=role) for role in person.roles]
    db_session.add(user)
    return user


def _case(
    db_session: Session, cipher: RecordCipher, cms_case: CmsDemoCase, team: Team, worker: User
) -> None:
    case = Case(cms_reference=cms_case.reference, team=team, allocated_worker_id=worker.id)
    db_session.add(case)
    for position, cms_child in enumerate(cms_case.children):
        child = Child(case=case, position=position, cms_person_id=cms_child.person_id)
        cipher.seal_text(child, "name_enc", cms_child.name)
        cipher.seal_text(child, "date_of_birth_enc", cms_child.date_of_birth)
        # What the CMS holds for the child, so that each partner kind matches on its own.
        held = demo_identifiers(cms_child.person_id)
        cipher.seal_text(child, "nhs_number_enc", held.nhs_number)
        cipher.seal_text(child, "upn_enc", held.upn)
        db_session.add(child)
