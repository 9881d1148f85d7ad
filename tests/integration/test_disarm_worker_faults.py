"""The disarm worker when things go wrong around a document, and in what order it takes them:
a stop that reaches the converter, a full disk, a machine that cannot convert, an original
missing from the store; a submitted contribution's documents before a draft's. Fixtures from
test_disarm_worker.py."""

# ruff: noqa: F811 - the fixtures imported from test_disarm_worker.py are the tests' parameters

from __future__ import annotations

import errno
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from loopback.processes import wait_until
from portal.audit import AuditAction
from portal.crypto import FileKeyring
from portal.disarm import CouldNotMakeSafe, SafeCopy, sandbox
from portal.disarm.worker import DisarmCounts, DisarmWorker
from portal.models import SafeCopyStatus
from portal.models.base import utcnow
from portal.settings import Settings
from tests.conftest import both_backends
from tests.integration.test_disarm_worker import (  # noqa: F401 - fixtures
    Store,
    events,
    sessions,
    settings,
    stored,
    worker,
)
from tests.support import disarm_inputs as inputs


@both_backends
def test_documents_of_submitted_contributions_are_made_safe_before_drafts(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    drafted = stored(b"draft", draft=True)
    submitted = stored()
    drafted.created_at = submitted.created_at - timedelta(hours=1)  # the older of the two
    db_session.commit()
    made: list[str] = []
    first = worker(sessions, settings, keyring)
    real = first.converter

    def in_order(content: bytes, *arguments: object) -> SafeCopy:
        made.append("draft" if content == b"draft" else "submitted")
        return real(content, *arguments)

    first.converter = in_order
    first.make_due()
    assert made == ["submitted", "draft"]


@pytest.mark.parametrize("code", ["converter_failed", "unreadable"])
def test_a_worker_stopped_while_converting_leaves_the_document_to_be_tried_again(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
    code: str,
) -> None:
    """A stop's SIGTERM that reaches the converter too makes it fail (bubblewrap's shell
    exits 128+15: "converter_failed"; LibreOffice exits: "unreadable"): the stop's fault, not
    the document's."""
    attachment = stored()
    stopping = worker(sessions, settings, keyring)

    def killed_by_the_stop(*_arguments: object) -> SafeCopy:
        stopping.stop.set()
        raise CouldNotMakeSafe(code)

    stopping.converter = killed_by_the_stop
    assert stopping.make_due().retrying == 1
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.PENDING and attachment.safe_failure is None
    assert attachment.safe_attempts == 1 and attachment.safe_claimed_by == "disarm-test"
    assert not events(db_session, AuditAction.ATTACHMENT_NOT_MADE_SAFE)


def test_a_safe_copy_that_cannot_be_written_leaves_the_document_to_be_tried_again(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk (a stand-in for write_safe_copy: root ignores file permissions) is the
    machine's fault: the worker carries on and the claim is left to its lease."""
    attachment = stored()

    def disk_full(*_arguments: object, **_keywords: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("portal.disarm.worker.write_safe_copy", disk_full)
    assert worker(sessions, settings, keyring).make_due().retrying == 1
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.PENDING and attachment.safe_attempts == 1
    assert attachment.safe_claimed_by == "disarm-test"
    assert not events(db_session, AuditAction.ATTACHMENT_MADE_SAFE)


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (CouldNotMakeSafe("sandbox_unavailable"), "sandbox_unavailable"),
        (CouldNotMakeSafe("converter_missing"), "converter_missing"),
        (RuntimeError("a fault of the engine's"), "converter_failed"),
    ],
)
def test_a_machine_that_cannot_convert_leaves_the_document_to_be_tried_again(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
    fault: Exception,
    code: str,
) -> None:
    attachment = stored()

    def failing(*_arguments: object) -> SafeCopy:
        raise fault

    stranded = DisarmWorker(sessions, settings, keyring, name="stranded", converter=failing)
    assert stranded.make_due().retrying == 1
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.PENDING  # claimed until its lease runs out
    assert not events(db_session, AuditAction.ATTACHMENT_NOT_MADE_SAFE)

    attachment.safe_claimed_until = utcnow() - timedelta(seconds=1)  # the lease ran out
    db_session.commit()
    assert stranded.make_due().failed == 1  # the last of max_attempts (2)
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.FAILED
    assert attachment.safe_failure == code


def test_an_original_missing_from_the_store_fails_for_good(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
) -> None:
    attachment = stored()
    (settings.attachments.storage_directory / f"{attachment.id}.pdsf").unlink()
    assert worker(sessions, settings, keyring).make_due().failed == 1
    db_session.refresh(attachment)
    assert attachment.safe_failure == "original_unavailable"


def test_a_stop_that_kills_the_real_converter_leaves_the_document_pending(
    db_session: Session,
    sessions: Callable[[], Session],
    settings: Settings,
    keyring: FileKeyring,
    stored: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real engine on a long document: the worker is told to stop and its converter's
    process group gets SIGTERM meanwhile (what systemd's KillMode=control-group did): the
    attempt counts, the document stays pending for another try after the lease."""
    long_report = inputs.docx([f"Paragraph {number} of a long report" for number in range(80_000)])
    attachment = stored(long_report, "report.docx")
    started: list[int] = []
    spawn = sandbox._spawn

    def noted(*arguments: Any) -> int:
        started.append(spawn(*arguments))
        return started[-1]

    monkeypatch.setattr(sandbox, "_spawn", noted)
    stopping = worker(sessions, settings, keyring)
    counts: list[DisarmCounts] = []
    thread = threading.Thread(target=lambda: counts.append(stopping.make_due()))
    thread.start()
    try:
        wait_until(lambda: bool(started), 30, "the converter started")
        time.sleep(2)  # LibreOffice at work
        stopping.stop.set()
        os.killpg(started[0], signal.SIGTERM)
    finally:
        thread.join(60)
    assert counts[0].retrying == 1 and not counts[0].failed
    db_session.refresh(attachment)
    assert attachment.safe_status == SafeCopyStatus.PENDING and attachment.safe_attempts == 1
    assert not events(db_session, AuditAction.ATTACHMENT_NOT_MADE_SAFE)
