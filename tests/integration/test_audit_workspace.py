"""The IG officer's audit workspace: search, one event, who accessed a child's information.

Searches walk indexes in seq order by keyset (never OFFSET); every page is itself audited; only
IG officers get in.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.audit import AuditAction, record_event
from portal.audit import record as audit_record
from portal.audit.actions import SENSITIVE_READS
from portal.audit.record import Actor
from portal.audit.search import AuditFilter, access_report, search
from portal.audit.signing import CheckpointSigner
from portal.auth.login import actor_for
from portal.models import AuditEvent, AuditOutcome, Organisation, OrganisationKind, Role, User
from portal.uk_time import UK
from tests.conftest import both_backends
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_log import settle

IG_PAGES = ("/audit", "/audit/events/1", "/audit/cases/NCC-1/access")
_EVENT_LINK = re.compile(r'href="/audit/events/(\d+)"')


def _pagination_link(page: str, rel: str) -> str | None:
    match = re.search(
        rf'<a class="govuk-link govuk-pagination__link" href="([^"]+)" rel="{rel}"', page
    )
    return html.unescape(match.group(1)) if match else None


def shown(response: TestResponse) -> list[int]:
    """The seq of each event in the results table, top to bottom."""
    return [int(seq) for seq in _EVENT_LINK.findall(response.get_data(as_text=True))]


def last_event(db_session: Session) -> AuditEvent:
    db_session.expire_all()
    found = db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert found is not None
    return found


@dataclass
class Trail:
    """A small trail: two partner organisations, three people, reads and refusals on two cases."""

    token: str
    school: Organisation
    police: Organisation
    alice: User
    bob: User
    carol: User
    seqs: dict[str, int]

    def seq(self, *names: str) -> list[int]:
        """The named events' seqs, newest first, as a search shows them."""
        return sorted((self.seqs[name] for name in names), reverse=True)

    def seeded(self, found: list[int]) -> list[int]:
        """`found` without the officer's own searches, recorded after the trail was made (or
        anything another test left behind)."""
        return [seq for seq in found if min(self.seqs.values()) <= seq <= max(self.seqs.values())]


def _person(db_session: Session, organisation: Organisation, name: str, email: str) -> User:
    user = make_user(db_session, organisation, Role.PARTNER_CONTRIBUTOR)
    user.display_name = name
    user.email = email
    db_session.flush()
    return user


@pytest.fixture
def trail(db_session: Session) -> Trail:
    token = uuid.uuid4().hex[:6]
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    police = make_organisation(db_session, OrganisationKind.POLICE)
    alice = _person(db_session, school, f"Alice Smith {token}", f"alice.{token}@school.example")
    bob = _person(db_session, police, f"Bob Jones {token}", f"bob.{token}@police.example")
    carol = _person(db_session, school, f"Carol Smithers {token}", f"carol.{token}@school.example")
    case_1, case_2 = f"C1-{token}", f"C2-{token}"
    plan: list[tuple[str, AuditAction, User | None, str | None, AuditOutcome]] = [
        ("alice_read", AuditAction.CHILD_DETAILS_VIEWED, alice, case_1, AuditOutcome.SUCCESS),
        ("bob_read", AuditAction.REQUEST_VIEWED, bob, case_1, AuditOutcome.SUCCESS),
        ("alice_sign_in", AuditAction.SIGN_IN, alice, None, AuditOutcome.SUCCESS),
        ("bob_refused", AuditAction.PERMISSION_DENIED, bob, case_2, AuditOutcome.DENIED),
        ("carol_read", AuditAction.CONTRIBUTION_VIEWED, carol, case_2, AuditOutcome.SUCCESS),
        ("seeded", AuditAction.DEMO_DATA_SEEDED, None, None, AuditOutcome.SUCCESS),
    ]
    seqs = {}
    for name, action, who, case, outcome in plan:
        actor = actor_for(who) if who else audit_record.SYSTEM
        seqs[name] = record_event(
            db_session, action, actor=actor, case_reference=case, outcome=outcome
        ).seq
    db_session.commit()
    return Trail(token, school, police, alice, bob, carol, seqs)


@pytest.fixture
def officer(db_session: Session) -> User:
    return make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.IG_OFFICER
    )


@pytest.fixture
def ig(app: Flask, officer: User) -> FlaskClient:
    client = app.test_client()
    sign_in(app, client, officer)
    return client


# --- Searching ------------------------------------------------------------------------------


@both_backends
def test_search_by_each_filter(ig: FlaskClient, trail: Trail) -> None:
    token = trail.token

    def found(**args: Any) -> list[int]:
        response = ig.get("/audit", query_string=args)
        assert response.status_code == 200, response.get_data(as_text=True)
        return trail.seeded(shown(response))

    assert found() == trail.seq(*trail.seqs)
    assert found(case_reference=f"C1-{token}") == trail.seq("alice_read", "bob_read")
    # A person by exact e-mail (any case), by part of their name, or by id.
    assert found(person=f"ALICE.{token}@school.example") == trail.seq("alice_read", "alice_sign_in")
    assert found(person=f"smith {token}") == trail.seq("alice_read", "alice_sign_in")
    assert found(person="smith") != []  # both Smith and Smithers, at least
    assert found(person=f"Smith{token}") == []
    assert found(person=f"smithers {token}") == trail.seq("carol_read")
    assert found(person=str(trail.bob.id)) == trail.seq("bob_read", "bob_refused")
    assert found(person=f"nobody {token}") == []
    assert found(organisation=str(trail.school.id)) == trail.seq(
        "alice_read", "alice_sign_in", "carol_read"
    )
    assert found(action="permission_denied") == trail.seq("bob_refused")
    assert found(outcome="denied") == trail.seq("bob_refused")
    # Combined: every filter must hold.
    assert found(case_reference=f"C2-{token}", organisation=str(trail.school.id)) == trail.seq(
        "carol_read"
    )
    assert found(person=f"{token}@school.example", action="sign_in", outcome="success") == []
    assert found(person=f"alice.{token}@school.example", action="sign_in", outcome="success") == (
        trail.seq("alice_sign_in")
    )
    assert found(person="smith", case_reference=f"C2-{token}", outcome="success") == trail.seq(
        "carol_read"
    )


@both_backends
def test_search_by_uk_date_range(
    ig: FlaskClient, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    moments = {
        "march_1": datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        "march_2_late": datetime(2025, 3, 2, 23, 30, tzinfo=UTC),  # GMT: still 2 March
        "june_11_early": datetime(2025, 6, 10, 23, 30, tzinfo=UTC),  # BST: 00:30 on 11 June
        "june_12": datetime(2025, 6, 12, 12, 0, tzinfo=UTC),
    }
    seqs = {}
    for name, moment in moments.items():
        monkeypatch.setattr(audit_record, "utcnow", lambda moment=moment: moment)
        seqs[name] = record_event(db_session, AuditAction.SIGN_IN).seq
    monkeypatch.undo()
    db_session.commit()

    def found(
        date_from: tuple[int, int, int] | None, date_to: tuple[int, int, int] | None
    ) -> list[int]:
        args: list[tuple[str, int]] = []
        for name, day in (("date_from", date_from), ("date_to", date_to)):
            args += [(name, part) for part in day or ()]
        response = ig.get("/audit", query_string=args + [("action", "sign_in")])
        assert response.status_code == 200, response.get_data(as_text=True)
        return shown(response)

    def of(*names: str) -> list[int]:
        return sorted((seqs[name] for name in names), reverse=True)

    assert found((11, 6, 2025), (11, 6, 2025)) == of("june_11_early")
    assert found((2, 3, 2025), (11, 6, 2025)) == of("march_2_late", "june_11_early")
    assert found((1, 3, 2025), (2, 3, 2025)) == of("march_1", "march_2_late")
    assert found((12, 6, 2025), None) == of("june_12")
    assert found(None, (1, 3, 2025)) == of("march_1")
    assert found((1, 1, 2024), (31, 12, 2024)) == []
    assert found((1, 1, 2030), None) == []

    # Times are shown in UK time.
    page = ig.get(f"/audit/events/{seqs['june_11_early']}").get_data(as_text=True)
    assert "11 June 2025 at 12:30am" in page


@both_backends
def test_older_and_newer_links_walk_every_event_exactly_once(
    ig: FlaskClient, db_session: Session
) -> None:
    case = f"PAGE-{uuid.uuid4().hex[:6]}"
    expected = [
        record_event(db_session, AuditAction.REQUEST_VIEWED, case_reference=case).seq
        for _ in range(123)
    ]
    record_event(db_session, AuditAction.REQUEST_VIEWED, case_reference="ANOTHER")
    db_session.commit()
    expected.reverse()
    query = {"case_reference": case, "action": "request_viewed"}

    first = ig.get("/audit", query_string=query).get_data(as_text=True)
    assert _pagination_link(first, "prev") is None  # the newest page has nothing newer
    pages, page = [], first
    while True:
        pages.append([int(seq) for seq in _EVENT_LINK.findall(page)])
        older = _pagination_link(page, "next")
        if older is None:
            break
        assert older.startswith("/audit?") and "before=" in older
        response = ig.get(older)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
    assert [len(p) for p in pages] == [50, 50, 23]
    assert [seq for p in pages for seq in p] == expected

    # And back up again from the oldest page.
    newer_pages = [pages[-1]]
    while (newer := _pagination_link(page, "prev")) is not None:
        assert "after=" in newer and "before=" not in newer
        page = ig.get(newer).get_data(as_text=True)
        newer_pages.append([int(seq) for seq in _EVENT_LINK.findall(page)])
    walked = [seq for p in reversed(newer_pages) for seq in p]
    assert walked == expected
    assert _pagination_link(page, "next") is not None


def test_the_search_walks_seq_by_keyset_never_offset(
    db_session: Session, trail: Trail, connection: sa.Connection
) -> None:
    audit_filter = AuditFilter(case_reference=f"C1-{trail.token}", person="smith")
    with captured_sql(connection) as executed:
        search(db_session, audit_filter, before=10_000, limit=20)
        search(db_session, AuditFilter(outcome=AuditOutcome.SUCCESS), after=1, limit=20)
    statements = [statement for statement, _ in executed]
    on_events = [s for s in statements if "FROM audit_events" in s]
    assert on_events
    assert not any("OFFSET" in s.upper() for s in statements)
    page_queries = [s for s in on_events if "LIMIT" in s]
    assert any(
        "ORDER BY audit_events.seq DESC" in s and "audit_events.seq <" in s for s in page_queries
    )
    assert any(
        "ORDER BY audit_events.seq ASC" in s and "audit_events.seq >" in s for s in page_queries
    )


def test_search_plans_use_the_indexes_over_many_events(
    db_session: Session, connection: sa.Connection
) -> None:
    # 20,000 events in one statement: 2,000 cases of 10 events, 500 people of 40 events each.
    db_session.execute(
        sa.text(
            """
            INSERT INTO audit_events (seq, occurred_at, actor_user_id, actor_organisation_id,
                actor_role, action, object_type, object_id, case_reference, outcome,
                request_id, client_address, user_agent, details, xact)
            SELECT i, now() - (20001 - i) * interval '1 second', md5((i % 500)::text)::uuid,
                md5('org' || (i % 7)::text)::uuid, 'social_worker',
                (ARRAY['request_viewed','sign_in','child_details_viewed'])[1 + i % 3],
                NULL, NULL, 'CASE-' || (i % 2000), 'success', NULL, NULL, NULL, '{}',
                pg_current_xact_id()::text::bigint
            FROM generate_series(1, 20000) AS i
            """
        )
    )
    # Later events are numbered after these (the test's own numbers, not the sequence's).
    db_session.execute(
        sa.text(
            "SELECT setval('audit_event_numbers', "
            "greatest(20000, (SELECT last_value FROM audit_event_numbers)))"
        )
    )
    db_session.execute(sa.text("ANALYZE audit_events"))
    person, other = db_session.execute(sa.text("SELECT md5('7')::uuid, md5('8')::uuid")).one()

    by_case = plans(connection, lambda: search(db_session, AuditFilter(case_reference="CASE-7")))
    assert any("ix_audit_events_case_reference_seq" in plan for plan in by_case), by_case
    by_person = plans(
        connection, lambda: search(db_session, AuditFilter(person=str(person)), before=15_000)
    )
    assert any("ix_audit_events_actor_user_id_seq" in plan for plan in by_person), by_person

    # Several people: each walks their own index range (the walks are merged).
    db_session.add_all(
        User(
            issuer="https://idp.test.invalid",
            subject=uuid.uuid4().hex,
            id=user_id,
            organisation=make_organisation(db_session),
            display_name=f"Plan person {n}",
        )
        for n, user_id in enumerate((person, other))
    )
    db_session.flush()
    by_people = plans(connection, lambda: search(db_session, AuditFilter(person="plan person")))
    assert any(plan.count("ix_audit_events_actor_user_id_seq") >= 2 for plan in by_people), (
        by_people
    )
    # A date range is found through the occurred_at index, then walks seq.
    today = datetime.now(UK).date()
    dated = plans(
        connection,
        lambda: search(
            db_session, AuditFilter(case_reference="CASE-7", date_from=today, date_to=today)
        ),
    )
    assert any("ix_audit_events_occurred_at" in plan for plan in dated), dated
    for plan in by_case + by_person + by_people + dated:
        assert "Seq Scan on audit_events" not in plan, plan


@contextmanager
def captured_sql(connection: sa.Connection) -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)


def plans(connection: sa.Connection, run: Any) -> list[str]:
    """The PostgreSQL plan of every statement on audit_events that `run` executes."""
    with captured_sql(connection) as executed:
        run()
    found = []
    for statement, parameters in executed:
        if "audit_events" in statement:
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            found.append("\n".join(row[0] for row in rows))
    return found


def test_a_person_filter_matching_too_many_people_asks_for_more(
    ig: FlaskClient, db_session: Session
) -> None:
    token = uuid.uuid4().hex[:6]
    organisation = make_organisation(db_session)
    for n in range(26):
        _person(db_session, organisation, f"Common {token} {n}", f"c{n}.{token}@example.org")
    db_session.commit()
    response = ig.get("/audit", query_string={"person": f"common {token}"})
    assert response.status_code == 400
    assert "More than 25 people match" in response.get_data(as_text=True)
    assert ig.get("/audit", query_string={"person": f"common {token} 25"}).status_code == 200


# --- Bad input ------------------------------------------------------------------------------

BAD_SEARCHES = [
    (
        [("date_from", "31"), ("date_from", "2"), ("date_from", "2025")],
        "Date from must be a real date",
    ),
    (
        [("date_from", "1"), ("date_from", ""), ("date_from", "2025")],
        "Date from must include a month",
    ),
    (
        [("date_to", ""), ("date_to", ""), ("date_to", "2025")],
        "Date to must include a day and a month",
    ),
    ([("date_to", "1"), ("date_to", "2"), ("date_to", "25")], "Date to must be a real date"),
    ([("date_to", "1"), ("date_to", "²"), ("date_to", "2025")], "Date to must be a real date"),
    ([("date_to", "1"), ("date_to", "2")], "Enter date to as a day, month and year"),
    (
        [
            ("date_from", "2"),
            ("date_from", "3"),
            ("date_from", "2025"),
            ("date_to", "1"),
            ("date_to", "3"),
            ("date_to", "2025"),
        ],
        "Date to must be the same as or after date from",
    ),
    ([("action", "delete_everything")], "Select an action from the list"),
    ([("outcome", "maybe")], "Select an outcome from the list"),
    ([("organisation", "not-an-id")], "Select an organisation from the list"),
    ([("organisation", str(uuid.uuid4()))], "Select an organisation from the list"),
    ([("case_reference", "x" * 65)], "Case reference must be 64 characters or fewer"),
    ([("person", "a\x00b")], "Person must not contain control characters"),
]


@pytest.mark.parametrize(("query", "message"), BAD_SEARCHES)
def test_bad_filters_get_an_error_summary_and_run_no_query(
    ig: FlaskClient, connection: sa.Connection, query: list[tuple[str, str]], message: str
) -> None:
    with captured_sql(connection) as executed:
        response = ig.get("/audit", query_string=query)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in page and "There is a problem" in page
    assert html.escape(message, quote=True) in page or message in html.unescape(page)
    assert "<title>Error:" in page
    assert not [s for s, _ in executed if "audit_events" in s]


@pytest.mark.parametrize(
    "query", ["before=abc", "after=-1", "before=5&after=2", "before=1e3", "before=%C2%B2"]
)
def test_malformed_page_positions_are_refused(ig: FlaskClient, query: str) -> None:
    assert ig.get(f"/audit?{query}").status_code == 400


# --- One event ------------------------------------------------------------------------------


def test_an_event_shows_every_field_and_is_audited(
    ig: FlaskClient, db_session: Session, trail: Trail, officer: User
) -> None:
    event = record_event(
        db_session,
        AuditAction.ROLES_CHANGED,
        actor=actor_for(trail.alice),
        object_type="user",
        object_id=trail.carol.id,
        case_reference=f"C1-{trail.token}",
        details={"roles": "partner_lead", "changed": True},
    )
    db_session.commit()

    response = ig.get(f"/audit/events/{event.seq}")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    for text in (
        f"Event {event.seq}",
        "Roles changed (roles_changed)",
        trail.alice.display_name,
        trail.alice.email,
        str(trail.alice.id),
        trail.school.name,
        str(trail.school.id),
        "Partner contributor",
        str(trail.carol.id),
        f"C1-{trail.token}",
        "Waiting to be placed in the log",  # until the sequencer's next pass
        "partner_lead",
        "True",
        f"/audit/cases/C1-{trail.token}/access",
    ):
        assert text in page, text
    assert "chain hash" not in page  # only events from before the tree log have one

    viewed = last_event(db_session)
    assert viewed.action == AuditAction.AUDIT_EVENT_VIEWED
    assert (viewed.object_type, viewed.object_id) == ("audit_event", str(event.seq))
    assert viewed.case_reference == f"C1-{trail.token}"
    assert viewed.actor_user_id == officer.id

    assert ig.get("/audit/events/999999").status_code == 404
    assert ig.get("/audit/events/abc").status_code == 404
    assert ig.get("/audit/events/%C2%B2").status_code == 404


def test_an_original_documents_download_shows_why_in_words(
    ig: FlaskClient, db_session: Session, trail: Trail
) -> None:
    event = record_event(
        db_session,
        AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED,
        actor=actor_for(trail.alice),
        object_type="attachment",
        object_id=uuid.uuid4(),
        case_reference=f"C1-{trail.token}",
        details={"request": "REQ-1", "version": 1, "reason": "legal_evidence"},
    )
    db_session.commit()

    page = html.unescape(ig.get(f"/audit/events/{event.seq}").get_data(as_text=True))
    assert "Original document downloaded (attachment_original_downloaded)" in page
    assert "Needed as evidence in legal proceedings" in page
    assert "legal_evidence" not in page


def test_an_event_of_someone_the_portal_no_longer_holds_shows_their_ids(
    ig: FlaskClient, db_session: Session
) -> None:
    gone, gone_organisation = uuid.uuid4(), uuid.uuid4()
    event = record_event(
        db_session,
        AuditAction.SIGN_IN,
        actor=Actor(user_id=gone, organisation_id=gone_organisation, role="retired_role"),
    )
    db_session.commit()
    page = ig.get(f"/audit/events/{event.seq}").get_data(as_text=True)
    assert str(gone) in page and str(gone_organisation) in page and "retired_role" in page
    assert "/audit/cases/" not in page  # no case: no access report to link to


# --- Who accessed this child's information ---------------------------------------------------


def test_the_access_report_counts_each_persons_reads_of_the_case_only(
    ig: FlaskClient, db_session: Session, officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = uuid.uuid4().hex[:6]
    case, other_case = f"R-{token}", f"S-{token}"
    school = make_organisation(db_session, OrganisationKind.SCHOOL)
    alice = _person(db_session, school, f"Alice {token}", f"alice.{token}@example.org")
    bob = _person(db_session, make_organisation(db_session), f"Bob {token}", f"bob.{token}@x.org")
    gone = Actor(uuid.uuid4(), school.id, "social_worker")
    times = iter(datetime(2025, 5, day, 9, 0, tzinfo=UTC) for day in range(1, 21))
    monkeypatch.setattr(audit_record, "utcnow", lambda: next(times))

    def read(actor: Actor, action: AuditAction, on: str = case, **fields: Any) -> None:
        record_event(db_session, action, actor=actor, case_reference=on, **fields)

    read(actor_for(alice), AuditAction.CHILD_DETAILS_VIEWED)  # 1 May
    read(actor_for(alice), AuditAction.REQUEST_VIEWED)  # 2 May
    read(actor_for(bob), AuditAction.ATTACHMENT_DOWNLOADED)  # 3 May
    read(actor_for(alice), AuditAction.CHILD_DETAILS_VIEWED)  # 4 May
    read(gone, AuditAction.CONTRIBUTION_VIEWED)  # 5 May
    read(
        actor_for(bob), AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED, details={"reason": "other"}
    )  # 6 May
    # Not reads of this case: another case, a refusal, a failed read, other actions.
    read(actor_for(alice), AuditAction.CHILD_DETAILS_VIEWED, on=other_case)
    read(actor_for(bob), AuditAction.PERMISSION_DENIED, outcome=AuditOutcome.DENIED)
    read(actor_for(bob), AuditAction.REQUEST_VIEWED, outcome=AuditOutcome.FAILURE)
    read(actor_for(alice), AuditAction.ROLES_CHANGED)
    read(actor_for(alice), AuditAction.AUDIT_ACCESS_REPORT_VIEWED)
    monkeypatch.undo()
    db_session.commit()

    report = access_report(db_session, case)
    assert [row.who.user_id for row in report] == [alice.id, bob.id, gone.user_id]
    by_person = {row.who.user_id: row for row in report}
    assert by_person[alice.id].reads == {"child_details_viewed": 2, "request_viewed": 1}
    assert by_person[alice.id].total == 3
    assert by_person[alice.id].first_at == datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    assert by_person[alice.id].last_at == datetime(2025, 5, 4, 9, 0, tzinfo=UTC)
    assert (by_person[alice.id].who.name, by_person[alice.id].who.organisation) == (
        alice.display_name,
        school.name,
    )
    assert by_person[alice.id].roles == ["partner_contributor"]
    assert by_person[bob.id].reads == {
        "attachment_downloaded": 1,
        "attachment_original_downloaded": 1,
    }
    # Someone the portal no longer holds: their id, and the organisation the event recorded.
    assert by_person[gone.user_id].who.name == str(gone.user_id)
    assert by_person[gone.user_id].who.organisation == school.name
    assert set(SENSITIVE_READS) >= {AuditAction(a) for row in report for a in row.reads}
    assert access_report(db_session, f"nothing-{token}") == []

    response = ig.get(f"/audit/cases/{case}/access")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Who accessed this child’s information" in page
    for text in (
        alice.display_name,
        bob.display_name,
        str(gone.user_id),
        "Child details viewed: 2",
        "Request viewed: 1",
        "Document downloaded (its safe copy): 1",
        "Original document downloaded: 1",
        "1 May 2025 at 10am",
        f"/audit?case_reference={case}",
    ):
        assert text in page, text

    viewed = last_event(db_session)
    assert viewed.action == AuditAction.AUDIT_ACCESS_REPORT_VIEWED
    assert viewed.case_reference == case
    assert viewed.actor_user_id == officer.id
    assert viewed.details == {"people": 3}
    # Viewing the report is not itself a read of the child's information.
    assert len(access_report(db_session, case)) == 3


# --- Each page is audited ---------------------------------------------------------------------


def test_a_search_is_audited_with_its_filters_as_flags_never_the_person_text(
    ig: FlaskClient, db_session: Session, trail: Trail, officer: User
) -> None:
    response = ig.get(
        "/audit",
        query_string={
            "case_reference": f"C1-{trail.token}",
            "person": f"Alice Smith {trail.token}",
            "action": "child_details_viewed",
        },
    )
    assert response.status_code == 200
    assert shown(response) == trail.seq("alice_read")
    searched = last_event(db_session)
    assert searched.action == AuditAction.AUDIT_SEARCHED
    assert searched.case_reference == f"C1-{trail.token}"
    assert searched.actor_user_id == officer.id
    assert searched.outcome == AuditOutcome.SUCCESS
    details = searched.details
    assert details["person_filter"] is True
    assert details["case_reference_filter"] is True
    assert details["action_filter"] is True
    assert details["organisation_id_filter"] is False
    assert details["action"] == "child_details_viewed"
    assert details["events_shown"] == 1
    assert "alice" not in json.dumps(details).lower()

    # A search that is refused for bad input records nothing.
    assert ig.get("/audit", query_string={"outcome": "maybe"}).status_code == 400
    assert last_event(db_session).seq == searched.seq


def test_text_typed_as_a_case_reference_reaches_the_trail_only_if_the_trail_names_it(
    ig: FlaskClient, db_session: Session, trail: Trail, audit_key_path: Path
) -> None:
    """The trail can never be shredded: a child's name typed into the case reference box must
    not land on it, whether in a search, an access report or an export."""
    settle(db_session, CheckpointSigner.load(audit_key_path))  # a tree head to export against
    db_session.commit()
    typed = f"Amelia Hart {trail.token}"
    assert ig.get("/audit", query_string={"case_reference": typed}).status_code == 200
    searched = last_event(db_session)
    assert searched.action == AuditAction.AUDIT_SEARCHED
    assert searched.case_reference is None and searched.details["case_reference_filter"] is True
    assert ig.get(f"/audit/cases/{typed}/access").status_code == 200
    reported = last_event(db_session)
    assert reported.action == AuditAction.AUDIT_ACCESS_REPORT_VIEWED
    assert (reported.object_id, reported.case_reference) == (None, None)
    token = csrf_token(ig.get("/audit").get_data(as_text=True))
    with ig.post(
        "/audit/export", query_string={"case_reference": typed}, data={"csrf_token": token}
    ) as exported:
        assert exported.status_code == 200
    assert last_event(db_session).action == AuditAction.AUDIT_EXPORTED
    written = db_session.execute(sa.text("SELECT * FROM audit_events")).all()
    assert not any("Amelia" in str(row) for row in written)

    # A reference the trail already names is recorded, for the officer's own oversight.
    ig.get(f"/audit/cases/C1-{trail.token}/access")
    assert last_event(db_session).case_reference == f"C1-{trail.token}"


def test_the_search_page_links_to_export_and_verification(
    ig: FlaskClient, db_session: Session, trail: Trail, audit_key_path: Path
) -> None:
    settle(db_session, CheckpointSigner.load(audit_key_path))  # a tree head to export against
    db_session.commit()
    page = ig.get("/audit", query_string={"case_reference": f"C1-{trail.token}", "outcome": ""})
    text = html.unescape(page.get_data(as_text=True))
    assert f'action="/audit/export?case_reference=C1-{trail.token}"' in text
    assert 'method="post"' in text
    assert "Download these events (CSV and evidence file)" in text
    assert 'href="/audit/verify"' in text and "Check the trail has not been altered" in text


# --- Only IG officers ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [role for role in Role if role != Role.IG_OFFICER])
def test_nobody_else_may_use_the_audit_workspace(
    app: Flask, db_session: Session, trail: Trail, role: Role
) -> None:
    kind = OrganisationKind.SCHOOL if role.value.startswith("partner") else OrganisationKind.COUNCIL
    client = app.test_client()
    sign_in(app, client, make_user(db_session, make_organisation(db_session, kind), role))
    pages = (
        *IG_PAGES,
        f"/audit/events/{trail.seqs['alice_read']}",
        f"/audit/cases/C1-{trail.token}/access",
    )
    for path in pages:
        assert client.get(path).status_code == 403, path
    assert "Audit trail" not in client.get("/").get_data(as_text=True)


def test_anonymous_people_are_sent_to_sign_in(client: FlaskClient) -> None:
    for path in IG_PAGES:
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in?next=")


def test_ig_officers_find_the_audit_trail_in_the_navigation(ig: FlaskClient) -> None:
    page = ig.get("/").get_data(as_text=True)
    assert re.search(r'href="/audit"[^>]*>\s*Audit trail', page)
