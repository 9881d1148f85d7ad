"""Who the simulated people are and what they open, chosen from the generated data the way
real use spreads: partner leads of many organisations, each opening their own inbox and their
own open requests; submitters with open requests nobody else is answering; an IG officer
searching the cases, people and days the trail really holds."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from portal.lifecycle import RequestStatus
from portal.models import AuditEvent, DelegationRequest, Organisation, RoleAssignment, User
from portal.models.users import Role, UserStatus

ANSWERABLE = (RequestStatus.ISSUED, RequestStatus.IN_PROGRESS)
# Requests a reader picks from: enough to spread over the cache like real use.
READER_REQUESTS = 50


@dataclass(frozen=True)
class Targets:
    readers: dict[uuid.UUID, list[str]]
    submitters: dict[uuid.UUID, list[str]]
    memory: tuple[uuid.UUID, str]


def partners(engine: Engine, readers: int, submitters: int, drafts_each: int) -> Targets:
    """Readers and submitters are different people in different organisations where possible,
    and no open request is given to two of them to answer."""
    open_by_org = _open_requests(engine)
    leads = _leads(engine, set(open_by_org))
    rng = random.Random(9)  # noqa: S311 - a repeatable choice, not a secret
    organisations = sorted(leads, key=lambda org: -len(open_by_org[org]))
    reader_ids: dict[uuid.UUID, list[str]] = {}
    sending: dict[uuid.UUID, list[str]] = {}
    # The busiest organisations send (they need the most open requests); the rest read.
    for org in organisations[:submitters]:
        lead = leads[org][0]
        sending[lead] = open_by_org[org][:drafts_each]
        del open_by_org[org][:drafts_each]
    spare = [org for org in organisations if open_by_org[org]]
    memory_org = spare[-1] if spare else organisations[0]
    memory = (leads[memory_org][0], open_by_org[memory_org].pop())
    readable = [org for org in organisations[submitters:] if open_by_org[org]] or organisations
    for index in range(readers):
        org = readable[index % len(readable)]
        person = leads[org][(index // len(readable)) % len(leads[org])]
        refs = open_by_org[org] or sending.get(person, [])
        reader_ids[person] = rng.sample(refs, min(READER_REQUESTS, len(refs)))
    if len(sending) < submitters or not reader_ids:
        raise RuntimeError("the generated data has too few partner leads with open requests")
    return Targets(reader_ids, sending, memory)


def _open_requests(engine: Engine) -> dict[uuid.UUID, list[str]]:
    now = datetime.now(UTC)
    query = (
        sa.select(DelegationRequest.partner_organisation_id, DelegationRequest.reference)
        .where(DelegationRequest.status.in_(ANSWERABLE), DelegationRequest.expires_at > now)
        .where(DelegationRequest.named_recipient_id.is_(None))
        .order_by(DelegationRequest.reference)
    )
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    with engine.connect() as connection:
        for org, reference in connection.execute(query):
            found[org].append(reference)
    return found


def _leads(engine: Engine, organisations: set[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    query = (
        sa.select(User.organisation_id, User.id)
        .join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(RoleAssignment.role == Role.PARTNER_LEAD, User.status == UserStatus.ACTIVE)
        .order_by(User.id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    with engine.connect() as connection:
        for org, user in connection.execute(query):
            if org in organisations:
                found[org].append(user)
    return found


@dataclass(frozen=True)
class Searches:
    officer: uuid.UUID
    cases: list[str]
    people: list[uuid.UUID]
    days: list[tuple[date, date]]


def searches(engine: Engine, count: int) -> Searches:
    """`count` searches of each kind, over what the trail holds: cases and people drawn from
    its events, and week-long date ranges within its span."""
    rng = random.Random(11)  # noqa: S311 - a repeatable choice, not a secret
    with engine.connect() as connection:
        officer = connection.execute(
            sa.select(RoleAssignment.user_id).where(RoleAssignment.role == Role.IG_OFFICER).limit(1)
        ).scalar_one()
        last = connection.execute(sa.select(sa.func.max(AuditEvent.seq))).scalar_one()
        seqs = [rng.randint(1, last) for _ in range(count * 4)]
        rows = connection.execute(
            sa.select(
                AuditEvent.case_reference, AuditEvent.actor_user_id, AuditEvent.occurred_at
            ).where(AuditEvent.seq.in_(seqs))
        ).all()
    cases = [row.case_reference for row in rows if row.case_reference][:count]
    people = [row.actor_user_id for row in rows if row.actor_user_id][:count]
    days = [(row.occurred_at.date(), row.occurred_at.date() + timedelta(days=6)) for row in rows]
    return Searches(officer, cases, people, days[:count])
