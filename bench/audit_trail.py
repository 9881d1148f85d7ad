"""A realistic audit trail at the benchmark's volumes: events by the generated people on the
generated cases, requests and contributions, written by COPY as record_events writes them
(numbered from the `audit_event_numbers` sequence, each batch's transaction id in `xact`, no
chain hash), then placed in the Merkle tree by the product's own sequencer
(portal.audit.sequencer), so `portal audit verify` passes and the next event the portal
records follows them."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.orm import Session

from portal.audit import AuditAction
from portal.audit.sequencer import sequence_pending

A = AuditAction
BATCH = 20_000
COLUMNS = (
    *("seq", "occurred_at", "actor_user_id", "actor_organisation_id", "actor_role", "action"),
    *("object_type", "object_id", "case_reference", "outcome", "request_id", "client_address"),
    *("user_agent", "details", "xact"),
)
# Events the sequencer places in one pass while the generated trail is sequenced: more than a
# running sequencer's batch, since there are a million of them waiting at once.
SEQUENCE_BATCH = 50_000
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
)
# Who acts, and on what. PARTNER: someone at the request's partner; COUNCIL: someone in the
# case's team; IG: an information governance officer; ANYONE: any person; SYSTEM: no one.
PARTNER, COUNCIL, IG, ANYONE, SYSTEM = "partner", "council", "ig", "anyone", "system"
# action, weight, who, object kind (None: no object), outcome
_ABOUT_CASES = (
    (A.REQUEST_VIEWED, 20, PARTNER, "request", "success"),
    (A.CHILD_DETAILS_VIEWED, 6, PARTNER, "request", "success"),
    (A.CONTRIBUTION_DRAFT_SAVED, 10, PARTNER, "contribution", "success"),
    (A.CONTRIBUTION_SUBMITTED, 3, PARTNER, "contribution", "success"),
    (A.ATTACHMENT_UPLOADED, 4, PARTNER, "attachment", "success"),
    (A.REQUEST_ISSUED, 4, COUNCIL, "request", "success"),
    (A.REQUEST_VIEWED, 6, COUNCIL, "request", "success"),
    (A.CONTRIBUTION_VIEWED, 8, COUNCIL, "contribution", "success"),
    (A.CONTRIBUTION_ACCEPTED, 3, COUNCIL, "contribution", "success"),
    (A.CONTRIBUTION_RETURNED, 0.5, COUNCIL, "contribution", "success"),
    (A.ATTACHMENT_DOWNLOADED, 3, COUNCIL, "attachment", "success"),
    (A.CASE_COPIED_FROM_CMS, 1, COUNCIL, "case", "success"),
    (A.REQUEST_REVOKED, 0.3, COUNCIL, "request", "success"),
    (A.REQUEST_EXTENDED, 0.5, COUNCIL, "request", "success"),
    (A.NOTIFICATION_SENT, 8, SYSTEM, "request", "success"),
    (A.CONTRIBUTION_DELIVERED, 3, SYSTEM, "contribution", "success"),
    (A.DELIVERY_FAILED, 0.2, SYSTEM, "contribution", "failure"),
    (A.REQUEST_EXPIRED, 0.5, SYSTEM, "request", "success"),
    (A.RETENTION_SHREDDED, 1, SYSTEM, "request", "success"),
    (A.AUDIT_ACCESS_REPORT_VIEWED, 0.1, IG, "case", "success"),
)
_ELSEWHERE = (
    (A.SIGN_IN, 8, ANYONE, "user", "success"),
    (A.SIGN_OUT, 3, ANYONE, None, "success"),
    (A.SIGN_IN_FAILED, 0.3, SYSTEM, "identity_provider", "failure"),
    (A.PERMISSION_DENIED, 0.5, ANYONE, "route", "denied"),
    (A.AUDIT_SEARCHED, 0.3, IG, None, "success"),
)
KINDS = _ABOUT_CASES + _ELSEWHERE
_CASE_KINDS = frozenset(_ABOUT_CASES)
_ROUTES = ("inbox.show", "requests.show", "audit.search", "admin.organisations")
_OBJECT_TYPES = {"request": "delegation_request", "attachment": "attachment", "case": "case"}
_OBJECT_TYPES |= {"contribution": "contribution", "user": "user", "route": "route"}
_OBJECT_TYPES |= {"identity_provider": "identity_provider"}


class Actor(NamedTuple):
    user_id: str
    organisation_id: str
    role: str  # as portal.auth.login.actor_for writes it
    address: str
    agent: str


class Request(NamedTuple):
    reference: str
    partner_id: str
    contribution_id: str | None  # its latest version's


class Case(NamedTuple):
    reference: str
    team_id: str
    requests: list[Request]


class Event(NamedTuple):
    """An audit_events row as event_fields reads one."""

    seq: int
    occurred_at: datetime
    actor_user_id: str | None
    actor_organisation_id: str | None
    actor_role: str | None
    action: str
    object_type: str | None
    object_id: str | None
    case_reference: str | None
    outcome: str
    request_id: str | None
    client_address: str | None
    user_agent: str | None
    details: dict[str, Any]


@dataclass
class Cast:
    """Who and what the trail speaks of, read from the generated database."""

    teams: dict[str, list[Actor]]
    partners: dict[str, list[Actor]]
    everyone: list[Actor]
    ig_officers: list[Actor]
    cases: list[Case]

    @classmethod
    def load(cls, connection: psycopg.Connection[Any]) -> Cast:
        people = connection.execute(
            "SELECT u.id::text, u.organisation_id::text, u.team_id::text, o.kind, "
            "string_agg(r.role, ',' ORDER BY r.role) FROM users u "
            "JOIN organisations o ON o.id = u.organisation_id "
            "JOIN role_assignments r ON r.user_id = u.id WHERE u.status = 'active' "
            "GROUP BY u.id, o.kind ORDER BY u.id"
        ).fetchall()
        cast = cls({}, {}, [], [], [])
        for number, (user_id, organisation_id, team_id, kind, roles) in enumerate(people):
            council = kind == "council"
            network = "10.20" if council else ("192.0.2", "198.51.100", "203.0.113")[number % 3]
            address = f"{network}.{number % 250 + 1}" + (f".{number // 250 + 1}" if council else "")
            actor = Actor(user_id, organisation_id, roles, address, USER_AGENTS[number % 3])
            cast.everyone.append(actor)
            if "ig_officer" in roles:
                cast.ig_officers.append(actor)
            elif council and team_id is not None:
                cast.teams.setdefault(team_id, []).append(actor)
            elif not council:
                cast.partners.setdefault(organisation_id, []).append(actor)
        cast.cases = _cases(connection)
        return cast


def _cases(connection: psycopg.Connection[Any]) -> list[Case]:
    rows = connection.execute(
        "SELECT c.cms_reference, c.team_id::text, r.reference, r.partner_organisation_id::text, "
        "(SELECT k.id::text FROM contributions k WHERE k.request_id = r.id "
        " ORDER BY k.version DESC LIMIT 1) "
        "FROM cases c LEFT JOIN delegation_requests r ON r.case_id = c.id ORDER BY c.cms_reference"
    )
    cases: dict[str, Case] = {}
    for case_reference, team_id, reference, partner_id, contribution_id in rows:
        case = cases.setdefault(case_reference, Case(case_reference, team_id, []))
        if reference is not None:
            case.requests.append(Request(reference, partner_id, contribution_id))
    return list(cases.values())


def append_events(
    connection: psycopg.Connection[Any],
    count: int,
    start: datetime,
    end: datetime,
    counted: Callable[[int], None],
    rng: random.Random,
) -> None:
    """Append `count` events after the trail's last, their times spread evenly from `start`
    (or the last event's time, if later) to `end`, in batches of their own transactions, each
    numbered from the event sequence and marked with its transaction's id, as record_events
    does; sequence_all then places them in the tree.

    The search indexes stay in place: dropping them for the load and building them again
    took as long in all (4M events onto 1M: 153 s + 44 s to build, against 215 s)."""
    if count <= 0:
        return
    known = Cast.load(connection)
    last = connection.execute("SELECT max(occurred_at) FROM audit_events").fetchone()
    start = max(start, last[0]) if last and last[0] else start
    step = (end - start) / count
    statement = sql.SQL("COPY audit_events ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    written = 0
    while written < count:
        size = min(BATCH, count - written)
        kinds = rng.choices(KINDS, [kind[1] for kind in KINDS], k=size)
        numbers, xact = _numbers(connection, size)
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for number, (kind, seq) in enumerate(zip(kinds, numbers, strict=True), written + 1):
                event = _event(known, rng, kind, seq, start + step * number)
                copy.write_row((*event[:13], json.dumps(event.details), xact))
        connection.commit()
        written += size
        counted(written)


def _numbers(connection: psycopg.Connection[Any], count: int) -> tuple[list[int], int]:
    """`count` event numbers, ascending, and this transaction's id (record_events' round trip)."""
    rows = connection.execute(
        "SELECT nextval('audit_event_numbers'), pg_current_xact_id()::text::bigint "
        "FROM generate_series(1, %s) ORDER BY 1",
        (count,),
    ).fetchall()
    return [int(row[0]) for row in rows], int(rows[0][1])


def sequence_all(engine: sa.Engine, counted: Callable[[int], None]) -> int:
    """Place every recorded event in the tree with the product's sequencer, pass after pass
    until none waits; returns the tree's size."""
    placed, size = 0, 0
    while True:
        with Session(engine) as session, session.begin():
            result = sequence_pending(session, SEQUENCE_BATCH)
        placed, size = placed + result.sequenced, result.tree_size
        counted(placed)
        if not result.more:
            return size


def cast_row(event: Event) -> Any:
    # event_fields reads a model or a row by attribute; an Event has the same attributes.
    return cast(Any, event)


def _event(known: Cast, rng: random.Random, kind: tuple[Any, ...], seq: int, at: datetime) -> Event:
    action, _weight, who, what, outcome = kind
    case = rng.choice(known.cases) if kind in _CASE_KINDS else None
    request = rng.choice(case.requests) if case and case.requests else None
    if case is not None and what != "case" and request is None:
        action, who, what = A.CASE_COPIED_FROM_CMS, COUNCIL, "case"
    elif what == "contribution" and request and request.contribution_id is None:
        action, what = A.REQUEST_VIEWED, "request"
    actor = _actor(known, rng, who, case, request)
    object_id, details = _object(rng, what, actor, case, request)
    object_type = _OBJECT_TYPES[what] if what else None
    reference = case.reference if case else None
    if actor is None:  # the system's own work: no one, from nowhere (portal.audit.SYSTEM)
        return Event(
            seq,
            at,
            None,
            None,
            "system",
            action.value,
            object_type,
            object_id,
            reference,
            outcome,
            None,
            None,
            None,
            details,
        )
    return Event(
        *(seq, at, actor.user_id, actor.organisation_id, actor.role, action.value, object_type),
        *(object_id, reference, outcome, f"{rng.getrandbits(128):032x}", actor.address),
        *(actor.agent, details),
    )


def _actor(
    known: Cast, rng: random.Random, who: str, case: Case | None, request: Request | None
) -> Actor | None:
    if who == PARTNER and request is not None and known.partners.get(request.partner_id):
        return rng.choice(known.partners[request.partner_id])
    if who in (PARTNER, COUNCIL) and case is not None and known.teams.get(case.team_id):
        # (A case made by another figure, the connector drain's, may have a team of nobody.)
        return rng.choice(known.teams[case.team_id])
    if who == IG and known.ig_officers:
        return rng.choice(known.ig_officers)
    if who == ANYONE:
        return rng.choice(known.everyone)
    return None


def _object(
    rng: random.Random,
    what: str | None,
    actor: Actor | None,
    case: Case | None,
    request: Request | None,
) -> tuple[str | None, dict[str, Any]]:
    if what == "request" and request is not None:
        return request.reference, {}
    if what == "contribution" and request is not None:
        return request.contribution_id, {"request": request.reference, "version": 1}
    if what == "attachment":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4)), {}
    if what == "case" and case is not None:
        return case.reference, {}
    if what == "user" and actor is not None:
        return actor.user_id, {}
    if what == "route":
        return rng.choice(_ROUTES), {}
    if what == "identity_provider":
        return None, {"reason": "expired_id_token"}
    return None, {}
