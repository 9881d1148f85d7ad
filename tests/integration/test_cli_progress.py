"""The long commands show their progress on a terminal and stay quiet when piped: `portal
audit verify`, `portal backup verify`, `portal retention run` and `portal keys rewrap`, run
as processes on a pty (a real terminal) and through pipes, against a SQLite database with a
world, closed requests due for shredding, and documents."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from loopback.databases import migrated_engine
from loopback.processes import PROJECT_ROOT, portal_command
from portal import create_app
from portal.audit import AuditAction, record_event
from portal.crypto import FileKeyring
from portal.lifecycle import RequestStatus
from tests.conftest import TEST_SECRET_KEY, test_settings
from tests.integration.test_retention import Closed
from tests.support.audit_log import sequence_all
from tests.support.terminal import on_a_pty
from tests.support.world import build_world

EVENTS = 2_500  # the chain's walk reports every 1,000


@dataclass
class Copy:
    environment: dict[str, str]


@pytest.fixture
def copy(tmp_path: Path, keyring_path: Path, audit_key_path: Path) -> Iterator[Copy]:
    keys = tmp_path / "keyring.json"
    shutil.copy(keyring_path, keys)  # `keys rotate` changes it
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    files = tmp_path / "files"
    engine = migrated_engine(url, FileKeyring.load(keys))
    settings = test_settings(
        url,
        keys,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={"storage_directory": str(files), "scanner": "none"},
    )
    app = create_app(settings, check_database=False)
    with Session(engine) as session:
        world = build_world(session, FileKeyring.load(keys))
        closed = Closed(session, FileKeyring.load(keys), world, app)
        for _ in range(3):
            closed.make(RequestStatus.REJECTED, 400)
        for _ in range(EVENTS):
            record_event(session, AuditAction.DEMO_DATA_SEEDED)
        session.commit()
        sequence_all(session)  # the tree the checks walk (and show progress through)
        session.commit()
    engine.dispose()
    witness = files.parent / "witness-store"  # `portal audit verify` without one exits 3
    witness.mkdir(exist_ok=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment |= {
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": url,
        "PORTAL_KEYRING__PATH": str(keys),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_AUDIT__SIGNING_KEY_FILE": str(audit_key_path),
        "PORTAL_AUDIT__WITNESS_DIRECTORY": str(witness),
        "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(files),
        "PORTAL_ATTACHMENTS__SCANNER": "none",
    }
    yield Copy(environment)


def on_a_terminal(copy: Copy, *arguments: str) -> str:
    """What the command writes to a terminal (stdout and stderr both), as a pty reads it."""
    code, shown = on_a_pty(portal_command(*arguments), copy.environment)
    assert code == 0, shown
    return shown


def piped(copy: Copy, *arguments: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603 - the project's own command
        portal_command(*arguments),
        env=copy.environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.parametrize(
    ("command", "progress", "summary"),
    [
        (("audit", "verify"), "Checking the audit log: ", "The log is intact"),
        (("backup", "verify"), "Checking the audit log: ", "VERIFIED"),
    ],
    ids=["audit-verify", "backup-verify"],
)
def test_checks_show_progress_on_a_terminal_only(
    copy: Copy, command: tuple[str, ...], progress: str, summary: str
) -> None:
    shown = on_a_terminal(copy, *command)
    assert progress in shown and " events (100%), " in shown and " a second" in shown
    assert summary in shown
    done = piped(copy, *command)
    assert summary in done.stdout
    assert progress not in done.stdout + done.stderr and "\r" not in done.stdout + done.stderr


def test_the_retention_run_shows_progress_on_a_terminal(copy: Copy) -> None:
    dry = piped(copy, "retention", "run", "--dry-run")
    assert dry.stdout.count("would shred DR-") == 3 and "Retention:" not in dry.stdout + dry.stderr
    shown = on_a_terminal(copy, "retention", "run")
    assert shown.count("shredded DR-") == 3  # each request's line stays
    assert "Retention: 3 of 3 requests due (100%), " in shown and " a second" in shown
    assert "Shredded the content of 3 requests" in shown


def test_the_rewrap_shows_progress_on_a_terminal_only(copy: Copy) -> None:
    piped(copy, "keys", "rotate", "--no-rewrap")
    shown = on_a_terminal(copy, "keys", "rewrap")
    assert "Rewrapping: " in shown and " data keys (100%), " in shown and " a second" in shown
    assert "Rewrapped " in shown
    piped(copy, "keys", "rotate", "--no-rewrap")
    done = piped(copy, "keys", "rewrap")
    assert "Rewrapped " in done.stdout
    assert "Rewrapping:" not in done.stdout + done.stderr and "rewrapped " not in done.stdout
