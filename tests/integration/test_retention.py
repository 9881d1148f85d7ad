"""Retention: `portal retention run` crypto-shreds closed requests' content once its outcome's
period has passed, never before, never while a legal hold stands and never for a request
without an outcome (however old); the IG officer's legal holds page; the pages that showed the
content say it was deleted; the trail still verifies."""

from __future__ import annotations

import io
import re
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import cli
from portal.attachments import NoScanner, store_upload
from portal.config import Settings
from portal.crypto import DecryptionError, FileKeyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import ContributionStatus, OutboxStatus, RequestStatus
from portal.models import (
    Attachment,
    AuditEvent,
    Contribution,
    DelegationRequest,
    Feedback,
    OutboxMessage,
    Review,
    ReviewDecision,
    Role,
)
from portal.models.keys import DataKey
from portal.models.requests import LegalHold
from portal.retention.shredding import RetentionReport, run_retention
from tests.conftest import test_settings
from tests.factories import csrf_token, make_request, make_user
from tests.support.audit_log import events
from tests.support.audit_tree import assert_one_tree
from tests.support.deliveries import Outbox
from tests.support.deployment import deployment
from tests.support.disarming import make_safe_copies
from tests.support.world import World, client_for

pytestmark = pytest.mark.postgres

ANSWER = "Kestrel-4 has been missing school on Mondays"
REASON = "Please add the attendance figures for October"
DOCUMENT = b"Attendance report: Kestrel-4, autumn term\n"
R = RequestStatus
RACED = 30  # requests two runs shred at once


@pytest.fixture
def settings(engine: Engine, keyring_path: Path, audit_key_path: Path, tmp_path: Path) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={"storage_directory": str(tmp_path / "files"), "scanner": "none"},
    )


@pytest.fixture
def portal(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The `portal` command, run against the test's app (and so its rolled-back transaction)."""
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


class Closed:
    """Closed requests with content: two versions of answers (the first returned with a
    reason), a document, and the final decision; ended some days ago."""

    def __init__(self, session: Session, keyring: FileKeyring, world: World, app: Flask) -> None:
        self.session, self.keyring, self.world = session, keyring, world
        self.files = app.config["PORTAL_SETTINGS"].attachments

    def make(self, outcome: RequestStatus, days_ago: float) -> DelegationRequest:
        cipher = RecordCipher(self.keyring, self.session)
        world = self.world
        request = make_request(self.session, cipher, world.case, world.school, world.worker)
        ended = datetime.now(UTC) - timedelta(days=days_ago)
        first = self._version(cipher, request, 1, ContributionStatus.RETURNED, ended)
        self._review(cipher, first, ReviewDecision.RETURNED, REASON)
        final = {
            R.DELIVERED: ContributionStatus.DELIVERED,
            R.REJECTED: ContributionStatus.REJECTED,
            R.REVOKED: ContributionStatus.SUBMITTED,
            R.EXPIRED: ContributionStatus.DISCARDED,
            R.CHILD_NOT_KNOWN: ContributionStatus.DISCARDED,
        }[outcome]
        second = self._version(cipher, request, 2, final, ended)
        self._document(cipher, second)
        if outcome == R.DELIVERED:
            self._review(cipher, second, ReviewDecision.ACCEPTED, None)
            second.delivered_at, second.cms_record_id = ended, "CMS-REC-1"
        else:
            if outcome == R.REJECTED:
                self._review(cipher, second, ReviewDecision.REJECTED, REASON)
            request.closed_at = ended
        request.status = outcome
        self.session.flush()
        return request

    def unfinished(self, status: RequestStatus, days_ago: float) -> DelegationRequest:
        """A request without an outcome, stuck at `status` with its content: every date
        `days_ago` in the past, even closed_at (which only an outcome sets)."""
        cipher = RecordCipher(self.keyring, self.session)
        request = make_request(
            self.session, cipher, self.world.case, self.world.school, self.world.worker
        )
        long_ago = datetime.now(UTC) - timedelta(days=days_ago)
        request.issued_at = request.expires_at = request.closed_at = long_ago
        request.due_on = long_ago.date()
        request.status = status
        version = {
            R.IN_PROGRESS: ContributionStatus.DRAFT,
            R.SUBMITTED: ContributionStatus.SUBMITTED,
            R.RETURNED: ContributionStatus.RETURNED,
            R.ACCEPTED: ContributionStatus.ACCEPTED,
        }.get(status)
        if version is not None:  # an issued request has nothing drafted yet
            contribution = self._version(cipher, request, 1, version, long_ago)
            self._document(cipher, contribution)
            if status == R.RETURNED:
                self._review(cipher, contribution, ReviewDecision.RETURNED, REASON)
            if status == R.ACCEPTED:  # its delivery to the CMS dead-lettered long ago
                self._review(cipher, contribution, ReviewDecision.ACCEPTED, None)
                self.session.add(
                    OutboxMessage(
                        contribution_id=contribution.id,
                        idempotency_key=f"retention-{contribution.id}",
                        status=OutboxStatus.DEAD_LETTERED,
                        attempts=12,
                        created_at=long_ago,
                        next_attempt_at=long_ago,
                    )
                )
        self.session.flush()
        return request

    def _document(self, cipher: RecordCipher, contribution: Contribution) -> None:
        store_upload(
            io.BytesIO(DOCUMENT),
            filename="attendance-kestrel.txt",
            answer_key="attendance.report",
            contribution=contribution,
            uploader_id=self.world.teacher.id,
            session=self.session,
            cipher=cipher,
            keyring=self.keyring,
            settings=self.files,
            scanner=NoScanner(),
        )

    def _version(
        self,
        cipher: RecordCipher,
        request: DelegationRequest,
        version: int,
        status: ContributionStatus,
        ended: datetime,
    ) -> Contribution:
        contribution = Contribution(
            id=uuid.uuid4(),
            request=request,
            version=version,
            status=status,
            created_by_id=self.world.teacher.id,
            submitted_by_id=self.world.teacher.id,
            submitted_at=ended - timedelta(days=3 - version),
            receipt_digest=bytes(32),
        )
        cipher.seal_json(contribution, "answers_enc", {"next-steps": ANSWER})
        self.session.add(contribution)
        self.session.flush()
        return contribution

    def _review(
        self,
        cipher: RecordCipher,
        contribution: Contribution,
        decision: ReviewDecision,
        reason: str | None,
    ) -> None:
        review = Review(
            id=uuid.uuid4(),
            contribution_id=contribution.id,
            reviewer_id=self.world.worker.id,
            decision=decision,
        )
        cipher.seal_text(review, "reason_enc", reason)
        self.session.add(review)


@pytest.fixture
def closed(db_session: Session, keyring: FileKeyring, world: World, app: Flask) -> Closed:
    return Closed(db_session, keyring, world, app)


def content_of(session: Session, keyring: FileKeyring, request: DelegationRequest) -> list[Any]:
    """Every sealed thing of the request's contributions, opened; DecryptionError once shred."""
    session.expire_all()
    cipher = RecordCipher(keyring, session)
    versions = session.scalars(
        sa.select(Contribution).where(Contribution.request_id == request.id)
    ).all()
    ids = [c.id for c in versions]
    opened: list[Any] = [cipher.open_json(c, "answers_enc") for c in versions]
    for document in session.scalars(
        sa.select(Attachment).where(Attachment.contribution_id.in_(ids))
    ):
        opened.append(cipher.open_text(document, "filename_enc"))
    for review in session.scalars(sa.select(Review).where(Review.contribution_id.in_(ids))):
        opened.append(cipher.open_text(review, "reason_enc"))
    return opened


def stored_files(app: Flask) -> set[str]:
    directory: Path = app.config["PORTAL_SETTINGS"].attachments.storage_directory
    return {path.name for path in directory.iterdir()} if directory.exists() else set()


def run(portal: CliRunner, *options: str) -> Result:
    result = portal.invoke(cli.cli, ["retention", "run", *options])
    assert result.exit_code == 0, result.output
    return result


def assert_shredded(session: Session, keyring: FileKeyring, request: DelegationRequest) -> None:
    with pytest.raises(DecryptionError, match="shredded"):
        content_of(session, keyring, request)
    assert request.content_shredded_at is not None
    # The request itself stays readable: what was asked, of whom, about which child.
    assert RecordCipher(keyring, session).open_text(request, "purpose_enc") == "purpose"


def test_content_is_shredded_after_its_period_and_never_before(
    portal: CliRunner, closed: Closed, db_session: Session, keyring: FileKeyring, app: Flask
) -> None:
    # Defaults: 90 days after delivery; a year after rejection, withdrawal, expiry or the
    # partner saying it knows none of the children.
    due = {outcome: closed.make(outcome, days) for outcome, days in _periods(+1).items()}
    kept = {outcome: closed.make(outcome, days) for outcome, days in _periods(-1).items()}
    files = stored_files(app)
    assert len(files) == 10

    result = run(portal)

    for request in due.values():
        assert_shredded(db_session, keyring, request)
    for request in kept.values():
        assert content_of(db_session, keyring, request)[0] == {"next-steps": ANSWER}
        assert request.content_shredded_at is None
    assert stored_files(app) == {f"{a}.pdsf" for a in _attachment_ids(db_session, kept)}
    assert (
        len(re.findall(r"^shredded DR-\w+ \(\w+\): 2 versions of answers", result.output, re.M))
        == 5
    )
    assert "Shredded the content of 5 requests" in result.output
    shredded = events(db_session, "retention_shredded")
    assert {event.object_id for event in shredded} == {r.reference for r in due.values()}
    delivered = next(e for e in shredded if e.object_id == due[R.DELIVERED].reference)
    assert delivered.actor_role == "system" and delivered.case_reference == "NCC-555001"
    assert delivered.details == {
        "outcome": "delivered",
        "retention_days": 90,
        "contributions": 2,
        "attachments": 1,
        "review_reasons": 1,  # the return's reason; an acceptance gives none
        "feedback_comments": 0,
        "data_keys_shredded": 4,
    }
    assert ANSWER not in str([e.details for e in shredded]) and REASON not in str(shredded)
    assert_one_tree(db_session)  # shredding leaves the log whole

    again = run(portal)  # nothing left to do: idempotent
    assert "Shredded the content of 0 requests" in again.output
    assert len(events(db_session, "retention_shredded")) == 5


def test_a_feedback_comment_is_shredded_with_its_requests_content(
    portal: CliRunner, closed: Closed, db_session: Session, keyring: FileKeyring
) -> None:
    """The partner's comment on the service, typed after sending a version, is free text that
    might mention a child despite the page's warning: it goes when the answers go."""
    due = closed.make(R.DELIVERED, 91)
    kept = closed.make(R.DELIVERED, 89)
    cipher = RecordCipher(keyring, db_session)
    comments = []
    for request in (due, kept):
        sent = db_session.scalars(
            sa.select(Contribution).where(Contribution.request_id == request.id)
        ).first()
        assert sent is not None
        feedback = Feedback(
            id=uuid.uuid4(),
            contribution_id=sent.id,
            organisation_id=sent.request.partner_organisation_id,
            rating=4,
        )
        cipher.seal_text(feedback, "comment_enc", "The upload page was slow")
        db_session.add(feedback)
        comments.append(feedback)
    db_session.flush()
    run(portal)
    db_session.expire_all()
    with pytest.raises(DecryptionError, match="shredded"):
        RecordCipher(keyring, db_session).open_text(comments[0], "comment_enc")
    assert RecordCipher(keyring, db_session).open_text(comments[1], "comment_enc") == (
        "The upload page was slow"
    )
    assert comments[0].rating == 4  # the rating stays: the figures count it
    (event,) = events(db_session, "retention_shredded")
    assert event.details["feedback_comments"] == 1


def test_requests_without_an_outcome_are_never_shredded_however_old(
    portal: CliRunner, closed: Closed, db_session: Session, keyring: FileKeyring, app: Flask
) -> None:
    stuck = {
        status: closed.unfinished(status, 1000)
        for status in (R.ISSUED, R.IN_PROGRESS, R.SUBMITTED, R.RETURNED, R.ACCEPTED)
    }
    files = stored_files(app)
    assert len(files) == 4

    dry = run(portal, "--dry-run")
    result = run(portal)

    assert "Would shred the content of 0 requests" in dry.output
    assert "Shredded the content of 0 requests" in result.output
    for status, request in stuck.items():
        opened = content_of(db_session, keyring, request)
        assert opened[:1] == ([] if status == R.ISSUED else [{"next-steps": ANSWER}]), status
        assert request.content_shredded_at is None, status
    assert stored_files(app) == files
    assert events(db_session, "retention_shredded") == []


def test_a_dry_run_changes_nothing(
    portal: CliRunner, closed: Closed, db_session: Session, app: Flask
) -> None:
    request = closed.make(R.REJECTED, 400)
    keys = db_session.execute(sa.select(DataKey.id, DataKey.wrapped_key)).all()
    trail = db_session.scalar(sa.select(sa.func.count(AuditEvent.seq)))
    files = stored_files(app)

    result = run(portal, "--dry-run")

    counts = "2 versions of answers, 1 documents, 2 review reasons"
    assert f"would shred {request.reference} (rejected): {counts}" in result.output
    assert "Would shred the content of 1 requests" in result.output
    db_session.expire_all()
    assert db_session.execute(sa.select(DataKey.id, DataKey.wrapped_key)).all() == keys
    assert db_session.scalar(sa.select(sa.func.count(AuditEvent.seq))) == trail
    assert stored_files(app) == files
    assert db_session.get_one(DelegationRequest, request.id).content_shredded_at is None


def test_a_legal_hold_stops_shredding_until_it_is_released(
    portal: CliRunner,
    closed: Closed,
    db_session: Session,
    keyring: FileKeyring,
    app: Flask,
    world: World,
) -> None:
    request = closed.make(R.DELIVERED, 200)
    officer = make_user(db_session, world.case.team.organisation, Role.IG_OFFICER)
    ig = client_for(app, officer)
    page = ig.get("/audit/legal-holds")
    assert page.status_code == 200 and "No request is on hold" in page.get_data(as_text=True)
    token = csrf_token(page.get_data(as_text=True))

    placed = ig.post(
        "/audit/legal-holds",
        data={"csrf_token": token, "reference": request.reference.lower(), "reason": "complaint"},
    )

    assert placed.status_code == 302
    listed = ig.get("/audit/legal-holds").get_data(as_text=True)
    assert f"{request.reference} is on legal hold" in listed
    assert "A complaint being investigated" in listed and officer.display_name in listed
    run(portal)
    assert content_of(db_session, keyring, request)[0] == {"next-steps": ANSWER}

    released = ig.post(
        f"/audit/legal-holds/{request.reference}/release", data={"csrf_token": token}
    )

    assert released.status_code == 302
    assert "No request is on hold" in ig.get("/audit/legal-holds").get_data(as_text=True)
    run(portal)
    assert_shredded(db_session, keyring, request)
    [hold] = events(db_session, "legal_hold_placed")
    [release] = events(db_session, "legal_hold_released")
    for event in (hold, release):
        assert event.actor_user_id == officer.id and event.actor_role == "ig_officer"
        assert event.object_id == request.reference and event.details["reason"] == "complaint"
    assert hold.seq < release.seq < events(db_session, "retention_shredded")[0].seq
    assert_one_tree(db_session)  # shredding leaves the log whole


def test_operators_place_and_release_holds_from_the_command_line(
    portal: CliRunner, closed: Closed, db_session: Session
) -> None:
    request = closed.make(R.EXPIRED, 500)
    reference = request.reference

    held = portal.invoke(cli.cli, ["retention", "hold", reference, "--reason", "litigation"])

    assert held.exit_code == 0 and f"{reference} is on legal hold (litigation)" in held.output
    assert (
        f"{reference}  NCC-555001  expired  litigation"
        in portal.invoke(cli.cli, ["retention", "holds"]).output
    )
    again = portal.invoke(cli.cli, ["retention", "hold", reference, "--reason", "complaint"])
    assert again.exit_code == 2
    assert again.stderr.strip() == f"portal: {reference} is already on legal hold."
    assert "Shredded the content of 0 requests" in run(portal).output
    unknown = portal.invoke(cli.cli, ["retention", "release", "DR-00000000"])
    assert unknown.exit_code == 2 and "There is no request with that reference" in unknown.stderr
    released = portal.invoke(cli.cli, ["retention", "release", reference])
    assert released.exit_code == 0, released.output
    assert "Shredded the content of 1 requests" in run(portal).output
    for action in ("legal_hold_placed", "legal_hold_released"):
        [event] = events(db_session, action)
        assert event.actor_role == "system" and event.actor_user_id is None
    assert db_session.scalars(sa.select(LegalHold)).all() == []


def test_the_hold_form_explains_what_is_wrong(
    closed: Closed, db_session: Session, app: Flask, world: World, portal: CliRunner
) -> None:
    shredded = closed.make(R.REVOKED, 400)
    run(portal)
    open_request = make_request(
        db_session, RecordCipher(closed.keyring, db_session), world.case, world.school, world.worker
    )
    officer = make_user(db_session, world.case.team.organisation, Role.IG_OFFICER)
    ig = client_for(app, officer)
    token = csrf_token(ig.get("/audit/legal-holds").get_data(as_text=True))

    def place(reference: str, reason: str | None = "litigation") -> str:
        data = {"csrf_token": token, "reference": reference, "reason": reason}
        response = ig.post("/audit/legal-holds", data={k: v for k, v in data.items() if v})
        assert response.status_code in (302, 400)
        return response.get_data(as_text=True) if response.status_code == 400 else "placed"

    assert "Enter the request reference" in place("")
    assert "Enter a request reference like DR-7KQ2M9XA" in place("NCC-555001")
    assert "There is no request with that reference" in place("DR-ZZZZZZZZ")
    assert "Select why the content must be kept" in place(open_request.reference, None)
    today = f"{date.today():%-d %B %Y}"
    assert f"was already deleted on {today} under the retention policy" in place(shredded.reference)
    assert place(open_request.reference) == "placed"  # an open request can be held too
    assert "is already on legal hold" in place(open_request.reference)
    no_token = ig.post("/audit/legal-holds", data={"reference": open_request.reference})
    assert no_token.status_code == 400
    assert len(events(db_session, "legal_hold_placed")) == 1


def test_pages_that_showed_the_content_say_it_was_deleted(
    portal: CliRunner, closed: Closed, db_session: Session, app: Flask, world: World
) -> None:
    request = closed.make(R.DELIVERED, 100)
    document = db_session.scalars(sa.select(Attachment)).one()
    worker = client_for(app, world.worker)
    download = f"/requests/{request.reference}/versions/2/files/{document.id}"
    assert ANSWER in worker.get(f"/requests/{request.reference}/versions/2").get_data(as_text=True)
    assert make_safe_copies(app).ready == 1
    assert worker.get(download).get_data() == DOCUMENT  # plain UTF-8: its safe copy is the same

    run(portal)

    deleted = f"deleted on {date.today():%-d %B %Y} under the retention policy"
    for version in (1, 2):
        page = worker.get(f"/requests/{request.reference}/versions/{version}")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and f"This content was {deleted}" in text
        assert ANSWER not in text and "attendance-kestrel" not in text
    assert "CMS record CMS-REC-1" in worker.get(
        f"/requests/{request.reference}/versions/2"
    ).get_data(as_text=True)
    gone = worker.get(download)
    assert gone.status_code == 410 and f"It was {deleted}" in gone.get_data(as_text=True)
    summary = worker.get(f"/requests/{request.reference}").get_data(as_text=True)
    assert f"review reasons were {deleted}" in summary
    lead = client_for(app, world.lead)
    assert f"review reasons were {deleted}" in lead.get(f"/inbox/{request.reference}").get_data(
        as_text=True
    )


def _periods(offset: int) -> dict[RequestStatus, int]:
    return {
        R.DELIVERED: 90 + offset,
        R.REJECTED: 365 + offset,
        R.REVOKED: 365 + offset,
        R.EXPIRED: 365 + offset,
        R.CHILD_NOT_KNOWN: 365 + offset,
    }


def _attachment_ids(
    session: Session, requests: dict[RequestStatus, DelegationRequest]
) -> set[uuid.UUID]:
    ids = [r.id for r in requests.values()]
    query = sa.select(Attachment.id).join(Contribution).where(Contribution.request_id.in_(ids))
    return set(session.scalars(query))


def test_files_whose_keys_were_destroyed_earlier_are_swept(
    portal: CliRunner, closed: Closed, db_session: Session, app: Flask
) -> None:
    # A run that stopped between its commit and deleting the files (or a withdrawal, which
    # destroys a draft's document keys) leaves files nobody can ever open: the next run
    # deletes them, and only them.
    left = closed.make(R.REJECTED, 30)  # not due for a long while
    kept = closed.make(R.DELIVERED, 10)
    [left_id] = _attachment_ids(db_session, {R.REJECTED: left})
    [kept_id] = _attachment_ids(db_session, {R.DELIVERED: kept})
    key = db_session.get(Attachment, left_id).data_key  # type: ignore[union-attr]
    assert key is not None
    key.wrapped_key = None
    db_session.flush()
    assert stored_files(app) == {f"{left_id}.pdsf", f"{kept_id}.pdsf"}

    result = run(portal)

    assert "Shredded the content of 0 requests" in result.output
    assert "Deleted 1 files of documents shredded earlier" in result.output
    assert stored_files(app) == {f"{kept_id}.pdsf"}
    assert "Deleted" not in run(portal).output  # nothing left to sweep


def test_two_runs_at_once_shred_each_request_once(
    postgres_admin: Engine, audit_key_path: Path, tmp_path: Path
) -> None:
    with deployment(postgres_admin, audit_key_path, tmp_path) as deployed:
        with Session(deployed.engine) as session:
            keyring = FileKeyring.load(deployed.keyring_path)
            Outbox(session, keyring, deployed.files).accepted(RACED, documents=1)
            long_ago = datetime.now(UTC) - timedelta(days=100)
            session.execute(
                sa.update(Contribution).values(
                    status=ContributionStatus.DELIVERED, delivered_at=long_ago
                )
            )
            session.execute(sa.update(DelegationRequest).values(status=R.DELIVERED))
            session.commit()
        settings = deployed.settings(retention={"batch_size": 5})
        start = threading.Barrier(2)
        reports: list[RetentionReport] = []

        def shred() -> None:
            start.wait()
            reports.append(
                run_retention(
                    sessionmaker(deployed.engine),
                    settings.retention,
                    settings.attachments,
                    progress=lambda _done, _report: time.sleep(0.01),  # interleave the two
                )
            )

        runs = [threading.Thread(target=shred) for _ in range(2)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join(timeout=120)

        assert sum(report.shredded for report in reports) == RACED
        assert all(report.shredded and report.skipped for report in reports)  # they did race
        with Session(deployed.engine) as session:
            references = set(session.scalars(sa.select(DelegationRequest.reference)))
            shredded = [event.object_id for event in events(session, "retention_shredded")]
            assert sorted(shredded) == sorted(references)  # each once, none twice
            assert (
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(DelegationRequest)
                    .where(DelegationRequest.content_shredded_at.is_(None))
                )
                == 0
            )
            assert_one_tree(session)
        assert list(deployed.files.glob("*.pdsf")) == []
        verified = deployed.portal("audit", "verify")
        assert verified.returncode == 0, verified.stderr
