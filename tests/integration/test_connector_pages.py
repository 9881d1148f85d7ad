"""The connector in the app, against the reference CMS (a real process over HTTP): a social
worker's case lookup keeps the portal's encrypted copy of the case in step with the CMS, and a
contribution accepted through the pages is delivered and shown to both sides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import CMS_CASE, ReferenceCms
from portal import db
from portal.audit import SYSTEM, AuditAction
from portal.config import Settings
from portal.connector.adapter import CmsFailure, Delivery
from portal.connector.factory import adapter_for
from portal.connector.outbox import DeliveryRefused, retry
from portal.connector.worker import DeliveryWorker
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, OutboxStatus, RequestStatus
from portal.models import Case, Child, Contribution, OutboxMessage, Role, Team
from tests.conftest import test_settings
from tests.factories import csrf_token, make_user
from tests.integration.test_delivery_admin import accepted
from tests.support.audit_log import events
from tests.support.deliveries import Outbox
from tests.support.world import World, client_for


@pytest.fixture(scope="module")
def cms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceCms]:
    running = ReferenceCms(tmp_path_factory.mktemp("cms")).start()
    yield running
    running.stop()


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms
) -> Settings:
    cms.faults()  # none left over from another test
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        cms=cms.section(),
    )


@pytest.fixture
def council(db_session: Session, keyring: FileKeyring, tmp_path: Path) -> Outbox:
    """The council team the reference CMS's cases belong to, and a social worker in it."""
    return Outbox(db_session, keyring, tmp_path / "files")


def on_the_reference_cms(world: World, db_session: Session) -> None:
    """The world's case and children as the reference CMS holds them (its seeded NCC-100234:
    the same two children, with their person ids)."""
    world.case.cms_reference = CMS_CASE
    for child, person_id in zip(world.case.children, ("P-100234-1", "P-100234-2"), strict=True):
        child.cms_person_id = person_id
    db_session.commit()


def look_up(app: Flask, council: Outbox, reference: str) -> tuple[int, str, str | None]:
    client = client_for(app, council.worker)
    token = csrf_token(client.get("/requests/new").get_data(as_text=True))
    answer = client.post("/requests/new", data={"csrf_token": token, "reference": reference})
    return answer.status_code, answer.get_data(as_text=True), answer.headers.get("Location")


def test_a_case_the_portal_has_not_seen_is_copied_from_the_cms(
    app: Flask, council: Outbox, db_session: Session, keyring: FileKeyring
) -> None:
    status, _page, location = look_up(app, council, "NCC-102310")
    assert status == 302 and location == "/requests/new/NCC-102310"
    case = db_session.scalar(sa.select(Case).where(Case.cms_reference == "NCC-102310"))
    assert case is not None and case.team_id == council.team.id
    [child] = case.children
    assert child.cms_person_id == "P-102310-1"
    assert b"Ruby" not in child.name_enc
    cipher = RecordCipher(keyring, db_session)
    assert cipher.open_text(child, "name_enc") == "Ruby Chen"
    assert cipher.open_text(child, "date_of_birth_enc") == "2018-08-09"
    [copied] = events(db_session, AuditAction.CASE_COPIED_FROM_CMS)
    assert copied.case_reference == "NCC-102310" and copied.details["created"] is True

    page = client_for(app, council.worker).get("/requests/new/NCC-102310")
    assert page.status_code == 200 and "Ruby Chen" in page.get_data(as_text=True)

    # Looking again changes nothing, so nothing more is recorded.
    assert look_up(app, council, "NCC-102310")[0] == 302
    assert len(events(db_session, AuditAction.CASE_COPIED_FROM_CMS)) == 1


def test_the_portal_copy_follows_a_change_in_the_cms(
    app: Flask, council: Outbox, db_session: Session, keyring: FileKeyring
) -> None:
    cipher = RecordCipher(keyring, db_session)
    amelia = db_session.scalar(sa.select(Child).where(Child.cms_person_id == "P-100234-1"))
    assert amelia is not None
    cipher.seal_text(amelia, "name_enc", "Amelia Hartley")  # as the portal last saw it
    db_session.commit()
    assert look_up(app, council, "NCC-100234")[0] == 302
    db_session.refresh(amelia)
    assert cipher.open_text(amelia, "name_enc") == "Amelia Hart"
    [copied] = events(db_session, AuditAction.CASE_COPIED_FROM_CMS)
    assert copied.details == {
        "created": False,
        "children": 2,
        "team_changed": False,
        "team_id": str(council.team.id),
        "children_without_person_id": 0,
        "invalid_nhs_numbers": 0,
        "invalid_upns": 0,
        "children_no_longer_listed": 0,
    }
    assert copied.actor_user_id == council.worker.id
    case = db_session.scalar(sa.select(Case).where(Case.cms_reference == "NCC-100234"))
    assert case is not None and len(case.children) == 2


def test_an_unknown_reference_is_not_found(
    app: Flask, council: Outbox, db_session: Session
) -> None:
    status, page, _location = look_up(app, council, "NCC-999999")
    assert status == 400
    assert "There is no case with that reference" in page
    assert db_session.scalar(sa.select(Case).where(Case.cms_reference == "NCC-999999")) is None
    [looked_up] = events(db_session, AuditAction.CASE_LOOKED_UP)
    assert looked_up.details == {"found": False, "cms_unavailable": False}


def test_a_cms_that_does_not_answer_is_explained(
    app: Flask, council: Outbox, db_session: Session, cms: ReferenceCms
) -> None:
    cms.faults(fail_next=1)
    status, page, _location = look_up(app, council, "NCC-102310")
    assert status == 503
    assert "The case management system is not answering just now" in page
    assert "govuk-error-summary" in page
    assert db_session.scalar(sa.select(Case).where(Case.cms_reference == "NCC-102310")) is None
    [looked_up] = events(db_session, AuditAction.CASE_LOOKED_UP)
    assert looked_up.details == {"found": False, "cms_unavailable": True}


def test_a_contribution_accepted_through_the_pages_is_delivered_and_shown(
    app: Flask,
    world: World,
    db_session: Session,
    settings: Settings,
    keyring: FileKeyring,
    cms: ReferenceCms,
) -> None:
    done = accepted(app, world, db_session)
    on_the_reference_cms(world, db_session)
    adapter = adapter_for(settings.cms)
    worker = DeliveryWorker(db.database(app).sessions, adapter, settings, keyring, name="in-test")
    counts = worker.deliver_due()
    adapter.close()
    assert (counts.delivered, counts.retrying, counts.dead_lettered) == (1, 0, 0)

    db_session.refresh(done.message)
    assert done.message.status == OutboxStatus.DELIVERED
    record_id = done.message.cms_record_id
    assert record_id is not None and record_id.startswith("CMS-")
    [record] = [r for r in cms.records() if r["idempotency_key"] == done.message.idempotency_key]
    assert record["record_id"] == record_id

    council_page = client_for(app, world.worker).get(f"/requests/{done.reference}")
    assert f"CMS record {record_id}" in council_page.get_data(as_text=True)
    partner_page = client_for(app, world.teacher).get(f"/inbox/{done.reference}")
    assert f"(CMS record {record_id})" in partner_page.get_data(as_text=True)


def worker_named(app: Flask, settings: Settings, keyring: FileKeyring, name: str) -> DeliveryWorker:
    return DeliveryWorker(
        db.database(app).sessions, adapter_for(settings.cms), settings, keyring, name=name
    )


def test_a_late_success_is_recorded_over_a_dead_letter_made_meanwhile(
    app: Flask, world: World, db_session: Session, settings: Settings, keyring: FileKeyring
) -> None:
    done = accepted(app, world, db_session)
    on_the_reference_cms(world, db_session)
    slow = worker_named(app, settings, keyring, "slow")
    [claim] = slow._claim()
    sending = slow._prepare(claim)
    assert sending is not None
    # Its lease ran out mid-send; another attempt failed for good and dead-lettered the row.
    done.message.status = OutboxStatus.DEAD_LETTERED
    done.message.claimed_by = done.message.claimed_at = None
    db_session.commit()

    assert slow._attempt(claim, sending) == "delivered"  # the CMS holds it: that is what counts
    db_session.refresh(done.message)
    assert done.message.status == OutboxStatus.DELIVERED and done.message.cms_record_id
    [event] = events(db_session, AuditAction.CONTRIBUTION_DELIVERED)
    assert event.details["previous_status"] == "dead_lettered"


def test_workers_claim_disjoint_batches_of_at_most_the_batch_size(
    app: Flask, council: Outbox, settings: Settings, keyring: FileKeyring
) -> None:
    council.accepted(25)
    first, second = (worker_named(app, settings, keyring, name) for name in ("first", "second"))
    batches = [first._claim(), second._claim(), first._claim(), second._claim()]
    assert [len(batch) for batch in batches] == [10, 10, 5, 0]
    claimed = [claim.id for batch in batches for claim in batch]
    assert len(set(claimed)) == 25
    assert all(claim.attempt == 1 for batch in batches for claim in batch)


def test_a_delivery_moves_its_contribution_and_request_as_their_lifecycles_do(
    app: Flask, council: Outbox, db_session: Session, settings: Settings, keyring: FileKeyring
) -> None:
    [outbox_id] = council.accepted(1)
    message = db_session.get_one(OutboxMessage, outbox_id)
    contribution = db_session.get_one(Contribution, message.contribution_id)
    before = (contribution.row_version, contribution.updated_at, contribution.request.row_version)
    worker = worker_named(app, settings, keyring, "only")
    [claim] = worker._claim()
    sending = worker._prepare(claim)
    assert isinstance(sending, Delivery)
    assert worker._attempt(claim, sending) == "delivered"

    db_session.expire_all()
    assert contribution.status == ContributionStatus.DELIVERED
    assert contribution.cms_record_id == message.cms_record_id is not None
    assert contribution.delivered_at == message.delivered_at is not None
    assert contribution.row_version == before[0] + 1 and contribution.updated_at > before[1]
    assert contribution.request.status == RequestStatus.DELIVERED
    assert contribution.request.row_version == before[2] + 1
    [event] = events(db_session, AuditAction.CONTRIBUTION_DELIVERED)
    assert event.object_id == str(contribution.id) and event.case_reference == CMS_CASE
    assert event.details["request"] == contribution.request.reference
    assert event.details["previous_status"] == "pending"


def test_a_stale_failure_changes_nothing_and_is_not_recorded(
    app: Flask, world: World, db_session: Session, settings: Settings, keyring: FileKeyring
) -> None:
    done = accepted(app, world, db_session)
    on_the_reference_cms(world, db_session)
    first, second = (worker_named(app, settings, keyring, name) for name in ("first", "second"))
    [stale] = first._claim()
    done.message.next_attempt_at = stale.claimed_at  # its lease runs out
    db_session.commit()
    [current] = second._claim()
    assert current.attempt == 2

    late = CmsFailure("cms_http_500", permanent=True)
    assert first._failed(stale, late) == "superseded"
    db_session.refresh(done.message)
    assert done.message.status == OutboxStatus.PENDING
    assert done.message.claimed_by == "second" and done.message.last_error is None
    assert not events(db_session, AuditAction.DELIVERY_DEAD_LETTERED)
    assert first._prepare(stale) is None, "the first worker may not send it again"

    # An administrator cannot bring forward a delivery a worker is sending.
    with pytest.raises(DeliveryRefused):
        retry(db_session, done.message.id, SYSTEM)
    db_session.rollback()
    sending = second._prepare(current)
    assert sending is not None
    assert second._attempt(current, sending) == "delivered"


def test_a_case_in_another_team_is_neither_shown_nor_copied(
    app: Flask, council: Outbox, db_session: Session
) -> None:
    outsider_team = Team(organisation_id=council.team.organisation_id, name="CIN West")
    db_session.add(outsider_team)
    db_session.flush()
    outsider = make_user(
        db_session, council.team.organisation, Role.SOCIAL_WORKER, team=outsider_team
    )
    db_session.commit()
    client = client_for(app, outsider)
    token = csrf_token(client.get("/requests/new").get_data(as_text=True))
    answer = client.post("/requests/new", data={"csrf_token": token, "reference": "NCC-102310"})
    assert answer.status_code == 400
    assert "There is no case with that reference" in answer.get_data(as_text=True)
    assert db_session.scalar(sa.select(Case).where(Case.cms_reference == "NCC-102310")) is None
    assert not events(db_session, AuditAction.CASE_COPIED_FROM_CMS)
