"""The disarm worker over a real database and file store, with the real engine: each pending
document gets its safe copy (encrypted beside the original) or a final failure code, with its
audit event; a claim left by a stopped worker is taken again once its lease runs out."""

from __future__ import annotations

import io
import os
import signal
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import migrated_engine
from loopback.processes import ProjectProcess, portal_command, wait_until
from portal.attachments import NoScanner, store_upload
from portal.attachments.safe_copies import open_safe_copy, safe_copy_path
from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.disarm.worker import DisarmWorker
from portal.lifecycle import ContributionStatus
from portal.models import Attachment, Contribution, OutboxMessage, SafeCopyStatus
from portal.models.base import utcnow
from portal.settings import Settings
from tests.conftest import TEST_SECRET_KEY, both_backends, test_settings
from tests.support.audit_log import events
from tests.support.deliveries import Outbox

TEXT = b"Attendance: 82%.\nSeen by the class teacher on 18 November.\n"


@pytest.fixture
def settings(engine: Engine, keyring_path: Path, tmp_path: Path) -> Settings:
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        attachments={"storage_directory": str(tmp_path / "files"), "scanner": "none"},
        disarm={"max_attempts": 2, "lease_seconds": 300},
    )


@pytest.fixture
def sessions(connection: Connection) -> Callable[[], Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint")


Store = Callable[..., Attachment]


@pytest.fixture
def stored(db_session: Session, keyring: FileKeyring, settings: Settings, tmp_path: Path) -> Store:
    """Store a document on an accepted contribution, as an upload would."""
    outbox = Outbox(db_session, keyring, tmp_path / "files")
    [message_id] = outbox.accepted(1)
    message = db_session.get_one(OutboxMessage, message_id)
    contribution = db_session.get_one(Contribution, message.contribution_id)

    def store(content: bytes = TEXT, name: str = "notes.txt", *, draft: bool = False) -> Attachment:
        attachment = store_upload(
            io.BytesIO(content),
            filename=name,
            answer_key="attendance.report",
            contribution=draft_of(contribution, outbox.lead.id) if draft else contribution,
            uploader_id=outbox.lead.id,
            session=db_session,
            cipher=RecordCipher(keyring, db_session),
            keyring=keyring,
            settings=settings.attachments,
            scanner=NoScanner(),
        )
        db_session.commit()
        assert attachment.safe_status == SafeCopyStatus.PENDING
        return attachment

    return store


def draft_of(contribution: Contribution, lead_id: uuid.UUID) -> Contribution:
    """The partner's next version, still a draft, on the same request."""
    session = Session.object_session(contribution)
    assert session is not None
    draft = Contribution(
        request_id=contribution.request_id,
        version=contribution.version + 1,
        status=ContributionStatus.DRAFT,
        created_by_id=lead_id,
    )
    session.add(draft)
    session.flush()
    return draft


def worker(
    sessions: Callable[[], Session], settings: Settings, keyring: FileKeyring
) -> DisarmWorker:
    return DisarmWorker(sessions, settings, keyring, name="disarm-test")


def png() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), "navy").save(picture, "PNG")
    return picture.getvalue()


@both_backends
def test_a_pending_document_gets_its_safe_copy_encrypted_beside_it(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    attachment = stored()
    counts = worker(sessions, settings, keyring).make_due()
    assert (counts.ready, counts.failed, counts.retrying) == (1, 0, 0)

    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.READY and attachment.safe_failure is None
    assert (attachment.safe_content_type, attachment.safe_size_bytes) == ("text/plain", len(TEXT))
    assert attachment.safe_attempts == 1 and attachment.safe_claimed_by is None
    assert attachment.safe_made_at is not None
    path = safe_copy_path(settings.attachments, attachment.id)
    assert TEXT not in path.read_bytes()  # ciphertext at rest
    safe = b"".join(open_safe_copy(attachment, keyring=keyring, settings=settings.attachments))
    assert safe == TEXT

    [made] = events(db_session, AuditAction.ATTACHMENT_MADE_SAFE)
    assert made.object_id == str(attachment.id)
    assert made.details is not None
    assert made.details["safe_size_bytes"] == len(TEXT) and made.details["attempt"] == 1
    assert "notes" not in str(made.details)  # codes and sizes, never a name or content
    assert not worker(sessions, settings, keyring).make_due()  # nothing left to do


def test_the_safe_copy_is_bound_to_its_own_file_id(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    from portal.crypto import DecryptionError

    attachment = stored()
    worker(sessions, settings, keyring).make_due()
    db_session.refresh(attachment)
    original = settings.attachments.storage_directory / f"{attachment.id}.pdsf"
    safe_copy_path(settings.attachments, attachment.id).write_bytes(original.read_bytes())
    with pytest.raises(DecryptionError, match="belongs to another file"):
        open_safe_copy(attachment, keyring=keyring, settings=settings.attachments)


def test_a_file_that_cannot_be_made_safe_fails_for_good_with_its_code(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    broken = png()[:60] + b"\x00" * 200  # a PNG's signature and header, then nothing sound
    attachment = stored(broken, "photo.png")
    counts = worker(sessions, settings, keyring).make_due()
    assert (counts.ready, counts.failed) == (0, 1)

    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.FAILED
    assert attachment.safe_failure == "unreadable" and attachment.safe_attempts == 1
    assert not safe_copy_path(settings.attachments, attachment.id).exists()
    [failed] = events(db_session, AuditAction.ATTACHMENT_NOT_MADE_SAFE)
    assert failed.details is not None and failed.details["reason"] == "unreadable"
    assert failed.outcome == "failure"
    assert not worker(sessions, settings, keyring).make_due()  # never tried again


def test_an_image_is_made_safe_and_a_shredded_document_is_not(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    image = stored(png(), "photo.png")
    shredded = stored(TEXT, "gone.txt")
    assert shredded.data_key is not None
    shredded.data_key.wrapped_key = None
    db_session.commit()

    counts = worker(sessions, settings, keyring).make_due()
    assert (counts.ready, counts.failed) == (1, 1)
    db_session.refresh(image)
    db_session.refresh(shredded)
    assert image.safe_status == SafeCopyStatus.READY and image.safe_content_type == "image/png"
    assert shredded.safe_status == SafeCopyStatus.FAILED and shredded.safe_failure == "shredded"
    assert not safe_copy_path(settings.attachments, shredded.id).exists()


@both_backends
def test_a_claim_left_by_a_stopped_worker_is_taken_again_once_its_lease_runs_out(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    attachment = stored()

    def claimed_by_a_worker_that_stopped(until: timedelta) -> None:
        attachment.safe_claimed_by = "stopped-worker"
        attachment.safe_claimed_until = utcnow() + until
        attachment.safe_attempts += 1
        db_session.commit()

    claimed_by_a_worker_that_stopped(timedelta(minutes=5))
    assert not worker(sessions, settings, keyring).make_due()  # its lease still holds

    attachment.safe_claimed_until = utcnow() - timedelta(seconds=1)
    db_session.commit()
    assert worker(sessions, settings, keyring).make_due().ready == 1
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.READY and attachment.safe_attempts == 2


def test_a_document_that_keeps_stopping_its_worker_fails_as_interrupted(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    attachment = stored()
    attachment.safe_attempts = settings.disarm.max_attempts  # each attempt's worker was killed
    attachment.safe_claimed_by = "killed-worker"
    attachment.safe_claimed_until = utcnow() - timedelta(seconds=1)
    db_session.commit()

    assert worker(sessions, settings, keyring).make_due().failed == 1
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.FAILED
    assert attachment.safe_failure == "interrupted"


def test_an_outcome_is_not_recorded_over_a_claim_taken_meanwhile(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    attachment = stored()
    slow = worker(sessions, settings, keyring)
    real = slow.converter

    def taken_over_while_converting(*arguments: object) -> object:
        with sessions() as session, session.begin():
            session.execute(
                sa.update(Attachment)
                .where(Attachment.id == attachment.id)
                .values(
                    safe_claimed_by="another",
                    safe_claimed_until=utcnow() + timedelta(minutes=5),
                )
            )
        return real(*arguments)

    slow.converter = taken_over_while_converting
    counts = slow.make_due()
    assert (counts.ready, counts.lost) == (0, 1)
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.PENDING
    assert attachment.safe_claimed_by == "another"
    assert not events(db_session, AuditAction.ATTACHMENT_MADE_SAFE)
    assert not safe_copy_path(settings.attachments, attachment.id).exists()


# --- `portal disarm`, in a process of its own ---------------------------------------------


def test_the_command_makes_what_waits_and_stops_cleanly_on_sigterm(
    keyring: FileKeyring, keyring_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "portal.db"
    engine = migrated_engine(f"sqlite:///{path}", keyring)
    files = tmp_path / "files"
    with Session(engine) as session:
        Outbox(session, keyring, files).accepted(1, documents=2)
        # As just uploaded: waiting for their safe copies.
        session.execute(sa.update(Attachment).values(safe_status=SafeCopyStatus.PENDING))
        session.commit()
    for safe_copy in files.glob("*.safe.pdsf"):
        safe_copy.unlink()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": f"sqlite:///{path}",
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(files),
        "PORTAL_DISARM__POLL_SECONDS": "0.2",
    }

    def statuses() -> set[SafeCopyStatus]:
        with Session(engine) as session:
            return set(session.scalars(sa.select(Attachment.safe_status)))

    try:
        disarm = ProjectProcess(portal_command("disarm"), environment, tmp_path / "disarm.log")
        wait_until(lambda: statuses() == {SafeCopyStatus.READY}, 60, "both safe copies")
        disarm.process.send_signal(signal.SIGTERM)
        assert disarm.process.wait(timeout=30) == 0, disarm.output()
        assert "Stopped." in disarm.output() and "Traceback" not in disarm.output()
        assert len(list(files.glob("*.safe.pdsf"))) == 2
        once = ProjectProcess(
            portal_command("disarm", "--once"), environment, tmp_path / "once.log"
        )
        assert once.process.wait(timeout=60) == 0, once.output()
        assert (
            "Made safe 0, could not make safe 0, to try again 0, lost to another worker 0."
        ) in once.output()
    finally:
        engine.dispose()
