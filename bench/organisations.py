"""The council with its social work teams, information governance and IT, and its partner
organisations (schools mostly, health, police), each with its identity provider and people as a
first sign-in and a partner lead's approval leave them: the benchmark's cast."""

from __future__ import annotations

import random
import re
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from bench import casework
from bench.scale import Scale
from portal.crypto.records import RecordCipher
from portal.models import (
    ClientAuthMethod,
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

COUNCIL = "Northmoor County Council"
PLACES = (
    "Ashby Brookfield Castlegate Dunmore Elmwood Fairholme Greystone Harlow Ivybridge Kingsmead "
    "Longford Marsden Netherby Oakhurst Pendle Queensway Redbrook Southgate Thornbury Upton "
    "Westfield Yardley Abbotsford Beckton Carrow Denholme Eastwick Fenwick Glenmoor Hillcrest "
    "Ingleby Jarrow Kirkham Lindale Millbrook Norbury Ormsby Pickering Rydal Stanway"
).split()
SCHOOL_KINDS = (
    *("Primary School", "Academy", "High School", "Community Primary School", "Junior School"),
    *("Infant School", "Church of England Primary School", "Catholic Primary School"),
)
AREAS = ("North", "South", "East", "West", "Central")
SERVICES = ("Children in Need", "Child Protection", "Children in Care", "Assessment")
# Each kind's share of the requests, and the people an organisation of it has: (leads,
# contributors). Schools are most partners; the police and health trusts answer the most.
SHARES = {OrganisationKind.SCHOOL: 0.66, OrganisationKind.HEALTH: 0.28}
SHARES[OrganisationKind.POLICE] = 0.06
STAFF = {OrganisationKind.SCHOOL: (1, 2), OrganisationKind.HEALTH: (1, 4)}
STAFF[OrganisationKind.POLICE] = (2, 8)


def create(
    session: Session, cipher: RecordCipher, scale: Scale, rng: random.Random
) -> tuple[dict[uuid.UUID, tuple[uuid.UUID, ...]], list[casework.Partner]]:
    """The council with its teams, and the partners, each with its identity provider and
    people as a first sign-in and a partner lead's approval leave them. Returns each social
    work team's workers and managers, and the partners."""
    council = _organisation(session, cipher, COUNCIL, OrganisationKind.COUNCIL, 0)
    services = [f"{service} Team {area}" for service in SERVICES for area in AREAS]
    teams = {}
    for name in services[: max(2, min(len(services), scale.cases // 2500))]:
        team = Team(
            organisation=council, name=name, contact_email=f"{_slug(name)}@{_domain(council)}"
        )
        people = [_person(session, council, rng, Role.TEAM_MANAGER, team)]
        people += [_person(session, council, rng, Role.SOCIAL_WORKER, team) for _ in range(8)]
        session.flush()
        teams[team.id] = tuple(person.id for person in people)
    for name, role, count in (
        ("Information Governance", Role.IG_OFFICER, 3),
        ("Digital Services", Role.PORTAL_ADMIN, 2),
    ):
        team = Team(organisation=council, name=name)
        for _ in range(count):
            _person(session, council, rng, role, team)
    partners = []
    for number, (name, kind) in enumerate(_partner_names(scale.organisations - 1), start=1):
        organisation = _organisation(session, cipher, name, kind, number)
        leads, contributors = STAFF[kind]
        people = [_person(session, organisation, rng, Role.PARTNER_LEAD) for _ in range(leads)]
        answering = [_person(session, organisation, rng, Role.PARTNER_CONTRIBUTOR)]
        answering += [
            _person(session, organisation, rng, Role.PARTNER_CONTRIBUTOR)
            for _ in range(rng.randint(1, contributors) - 1)
        ]
        session.flush()
        ids = tuple(person.id for person in answering)
        partners.append(
            casework.Partner(
                organisation.id, kind.value, 1.0, tuple(p.id for p in people) + ids, ids
            )
        )
    share = {
        kind: SHARES[OrganisationKind(kind)] / sum(p.kind == kind for p in partners)
        for kind in {p.kind for p in partners}
    }
    return teams, [
        casework.Partner(p.id, p.kind, share[p.kind], p.people, p.contributors) for p in partners
    ]


def _partner_names(count: int) -> list[tuple[str, OrganisationKind]]:
    """Mostly schools, a health trust and GP practices, and a police force or more."""
    police = max(1, count // 100)
    health = count * 7 // 100 if count >= 15 else int(count >= 3)
    names = [("Northmoor Constabulary", OrganisationKind.POLICE)]
    names += [(f"{place} Police", OrganisationKind.POLICE) for place in PLACES[: police - 1]]
    if health:
        names.append(("Northmoor Community Health NHS Trust", OrganisationKind.HEALTH))
        practices = [f"{place} Medical Practice" for place in PLACES]
        names += [(name, OrganisationKind.HEALTH) for name in practices[: health - 1]]
    schools = [f"{place} {kind}" for kind in SCHOOL_KINDS for place in PLACES]
    for number in range(count - len(names)):
        suffix = f" {number // len(schools) + 1}" if number >= len(schools) else ""
        names.append((schools[number % len(schools)] + suffix, OrganisationKind.SCHOOL))
    return names


def _organisation(
    session: Session, cipher: RecordCipher, name: str, kind: OrganisationKind, number: int
) -> Organisation:
    partner = kind != OrganisationKind.COUNCIL
    organisation = Organisation(
        name=name,
        kind=kind,
        stage=OrganisationStage.LIVE,
        self_provisioning=partner,
    )
    session.add(organisation)
    if partner:
        session.add(
            SharingAgreement(
                organisation=organisation,
                name=f"NCC-ISA-{number:03d}",
                version="1",
                signed_on=date.today() - timedelta(days=365),
                signatory_roles="Headteacher; Director of Children's Services",
                review_on=date.today() + timedelta(days=400),
            )
        )
    domain = _domain(organisation)
    provider = IdentityProvider(
        id=uuid.uuid4(),
        organisation=organisation,
        slug=f"idp-{number}",
        display_name=f"{name} sign-in",
        issuer=f"https://login.{domain}",
        client_id=f"partner-portal-{number}",
        client_auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        allowed_email_domains=[domain],
        # Approved long before the bench's people first signed in (no 30-day wait).
        trusted_since=datetime.now(UTC) - timedelta(days=400),
    )
    organisation.email_domains = [domain]
    cipher.seal_text(provider, "client_secret_enc", secrets.token_urlsafe(32))
    session.add(provider)
    return organisation


def _domain(organisation: Organisation) -> str:
    ending = {OrganisationKind.SCHOOL: "sch.example", OrganisationKind.POLICE: "police.example"}
    ending[OrganisationKind.HEALTH] = "nhs.example"
    return f"{_slug(organisation.name)}.{ending.get(organisation.kind, 'example')}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _person(
    session: Session,
    organisation: Organisation,
    rng: random.Random,
    role: Role,
    team: Team | None = None,
) -> User:
    first, last = rng.choice(casework.FIRST_NAMES), rng.choice(casework.SURNAMES)
    subject = uuid.uuid4().hex
    user = User(
        issuer=f"https://login.{_domain(organisation)}",
        subject=subject,
        organisation=organisation,
        team=team,
        email=f"{first}.{last}.{subject[:4]}@{_domain(organisation)}".lower(),
        display_name=f"{first} {last}",
        status=UserStatus.ACTIVE,
    )
    user.role_assignments = [RoleAssignment(role=role)]
    session.add(user)
    return user
