"""Backup and restore for real: data made through the pages (a request issued, answered with a
document, sent and accepted), scripts/backup.sh, scripts/restore.sh into a new database, and
`portal backup verify` as its own process: it passes with the right keyring, and fails clearly
with another keyring, a damaged dump or a live document without its file. Documents stored and
removed while the backup runs are all in it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import PROJECT_ROOT
from portal import create_app, db
from portal.audit.signing import CheckpointSigner
from portal.crypto import FileKeyring
from tests.conftest import test_settings
from tests.factories import csrf_token
from tests.faults.servers import portal_environment
from tests.integration.test_contribution_documents import PDF, upload
from tests.integration.test_contributions import answer_everything, children_of, send
from tests.support.audit_log import settle
from tests.support.disarming import make_safe_copies
from tests.support.world import build_world, client_for, issue

pytestmark = pytest.mark.postgres

SCRIPTS = PROJECT_ROOT / "scripts"


@dataclass
class Source:
    url: str
    engine: Engine
    app: Flask
    files: Path


@pytest.fixture
def source(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
) -> Iterator[Source]:
    """A committed portal database of its own (a backup sees only committed data)."""
    url = create_database(postgres_admin, "backup")
    engine = migrated_engine(url, keyring)
    files = tmp_path / "files"
    settings = test_settings(
        url,
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={"storage_directory": str(files), "scanner": "none"},
    )
    app = create_app(settings)
    yield Source(url, engine, app, files)
    db.database(app).engine.dispose()
    engine.dispose()
    drop_database(postgres_admin, url)


@pytest.fixture
def target(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a database that does not exist yet: restore.sh creates it."""
    url = create_database(postgres_admin, "restored")
    drop_database(postgres_admin, url)
    yield url
    drop_database(postgres_admin, url)


def accepted_with_a_document(
    source: Source, keyring: FileKeyring, audit_key: Path, documents: int = 1
) -> str:
    with Session(source.engine) as session:
        world = build_world(session, keyring)
        reference = issue(source.app, world)
        teacher = client_for(source.app, world.teacher)
        for number in range(documents):
            added = upload(teacher, reference, f"attendance-letter-{number}.pdf", PDF)
            assert added.status_code == 302 and "added=" in added.headers["Location"]
        answer_everything(teacher, reference, children_of(world))
        assert send(teacher, reference).status_code == 302
        worker = client_for(source.app, world.worker)
        page = worker.get(f"/requests/{reference}/versions/1").get_data(as_text=True)
        accepted = worker.post(
            f"/requests/{reference}/versions/1/decision",
            data={"csrf_token": csrf_token(page), "decision": "accepted"},
        )
        assert accepted.status_code == 302
    with Session(source.engine) as session, session.begin():
        settle(session, CheckpointSigner.load(audit_key))
    return reference


def run(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=environment, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_backup_restores_into_a_new_database_and_verifies(
    source: Source,
    target: str,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
) -> None:
    accepted_with_a_document(source, keyring, audit_key_path)
    assert make_safe_copies(source.app).ready == 1
    environment = portal_environment(source.url, keyring_path, audit_key_path)
    backup_dir = tmp_path / "backup"
    made = run(
        [str(SCRIPTS / "backup.sh"), "--files", str(source.files), str(backup_dir)],
        environment,
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in backup_dir.iterdir()) == [
        "database.dump",
        "files.tar",
        "manifest.txt",
    ]
    manifest = (backup_dir / "manifest.txt").read_text()
    assert "alembic-revision: " in manifest and "  database.dump" in manifest
    assert oct(backup_dir.stat().st_mode & 0o777) == "0o700"

    restored_files = tmp_path / "restored-files"
    # As root (in CI), the documents are given to the account the portal runs as.
    owner = ["--files-owner", "nobody:nogroup"] if os.geteuid() == 0 else []
    restored = run(
        [str(SCRIPTS / "restore.sh"), "--files", str(restored_files), *owner]
        + [str(backup_dir), target],
        environment,
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "WARNING" not in restored.stderr
    if owner:
        nobody = pwd.getpwnam("nobody")
        for path in (restored_files, *restored_files.iterdir()):
            assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    out = restored.stdout
    assert "keyring:    matches the database" in out
    assert "audit:      intact. Checked " in out and "1 signed checkpoint" in out
    for table in ("children", "contributions", "delegation_requests", "attachments"):
        assert f"sealed:     {table}: " in out
    assert "children: 2 records (2 sealed, 0 shredded); 2 decrypted, 4 fields" in out
    assert "documents:  1 readable, 1 files present; 1 decrypted" in out
    assert "safe copy:  1 ready, 1 files present; 1 decrypted, digests match" in out
    assert "VERIFIED" in out

    # The grants are the migrations' own, restated on the copy: the app role may append to
    # the audit trail but never change it.
    copy = sa.create_engine(target)
    with copy.connect() as connection:
        may = {
            privilege: connection.scalar(
                sa.text("SELECT has_table_privilege('portal_app', 'audit_events', :p)"),
                {"p": privilege},
            )
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE")
        }
        assert may == {"SELECT": True, "INSERT": True, "UPDATE": False, "DELETE": False}
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            connection.execute(sa.text("DELETE FROM audit_events"))
    copy.dispose()

    # Another keyring cannot read the copy, and says so.
    other_keyring = tmp_path / "other-keyring.json"
    FileKeyring.create(other_keyring)
    foreign = run(
        [str(PROJECT_ROOT / ".venv/bin/portal"), "backup", "verify"],
        environment
        | {
            "PORTAL_KEYRING__PATH": str(other_keyring),
            "PORTAL_DATABASE__URL": target,
            "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(restored_files),
        },
    )
    assert foreign.returncode == 1
    assert "does not match this database" in foreign.stderr
    assert "decryption: FAILED: not attempted" in foreign.stderr
    assert "NOT VERIFIED" in foreign.stderr

    # A document and a safe copy missing from the store are found.
    stored, safe_copy = sorted(restored_files.iterdir())  # <id>.pdsf, <id>.safe.pdsf
    stored.unlink()
    safe_copy.unlink()
    incomplete = run(
        [str(PROJECT_ROOT / ".venv/bin/portal"), "backup", "verify"],
        environment
        | {
            "PORTAL_DATABASE__URL": target,
            "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(restored_files),
        },
    )
    assert incomplete.returncode == 1
    assert f"attachment {stored.name.split('.')[0]} has no file" in incomplete.stderr
    assert f"attachment {stored.name.split('.')[0]} has no safe copy file" in incomplete.stderr

    # Unless its data key was shredded (by retention, or with a discarded draft): its file is
    # deleted after that commit, so a backup may rightly hold the row without the file.
    copy = sa.create_engine(target)
    with copy.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE data_keys SET wrapped_key = NULL, shredded_at = now() "
                "WHERE id = (SELECT data_key_id FROM attachments WHERE id = :id)"
            ),
            {"id": stored.name.split(".")[0]},
        )
    copy.dispose()
    shredded = run(
        [str(PROJECT_ROOT / ".venv/bin/portal"), "backup", "verify"],
        environment
        | {
            "PORTAL_DATABASE__URL": target,
            "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(restored_files),
        },
    )
    assert shredded.returncode == 0, shredded.stderr
    assert "attachments: 1 records (0 sealed, 1 shredded)" in shredded.stdout
    assert "documents:  0 readable, 0 files present" in shredded.stdout

    # Restoring over a database that holds anything is refused.
    over = run(
        [str(SCRIPTS / "restore.sh"), "--files", str(tmp_path / "other"), str(backup_dir), target],
        environment,
    )
    assert over.returncode == 1 and "is not empty" in over.stderr


def test_documents_stored_and_removed_during_the_backup_are_in_it(
    source: Source,
    target: str,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
) -> None:
    accepted_with_a_document(source, keyring, audit_key_path, documents=2)
    removed, added = sorted(source.files.iterdir())
    aside = tmp_path / added.name
    added.rename(aside)  # not stored yet when the backup starts
    # pg_dump as the backup runs it, with the portal busy around it: one document is stored
    # just before the dump's snapshot (its row committed), the other deleted just after it
    # (as a removal or a retention shred committed after the snapshot deletes its file).
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "pg_dump").write_text(
        "#!/bin/sh\n"
        'case "$*" in *--file=*) ;; *) exec "$REAL_PG_DUMP" "$@" ;; esac\n'
        'mv "$ADDED" "$STORE/" && "$REAL_PG_DUMP" "$@" && rm "$REMOVED"\n'
    )
    (busy / "pg_dump").chmod(0o755)
    environment = portal_environment(source.url, keyring_path, audit_key_path)
    backup_dir = tmp_path / "backup"
    made = run(
        [str(SCRIPTS / "backup.sh"), "--files", str(source.files), str(backup_dir)],
        environment
        | {
            "PATH": f"{busy}:{environment['PATH']}",
            "REAL_PG_DUMP": str(shutil.which("pg_dump")),
            "ADDED": str(aside),
            "STORE": str(source.files),
            "REMOVED": str(removed),
        },
    )
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in source.files.iterdir()) == [added.name]  # it did run

    restored_files = tmp_path / "restored-files"
    restored = run(
        [str(SCRIPTS / "restore.sh"), "--files", str(restored_files), str(backup_dir), target],
        environment,
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "documents:  2 readable, 2 files present; 2 decrypted" in restored.stdout
    assert sorted(p.name for p in restored_files.iterdir()) == [removed.name, added.name]
    if os.geteuid() == 0:  # without --files-owner: root's files, which the portal cannot read
        warning = f"WARNING: the documents in {restored_files} belong to root"
        assert restored.stderr.count(warning) == 2  # after unpacking, and again at the end
        assert f"run: chown -R portal:portal {restored_files}" in restored.stderr


def test_a_damaged_backup_is_refused_before_anything_is_restored(
    source: Source,
    target: str,
    postgres_admin: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
) -> None:
    environment = portal_environment(source.url, keyring_path, audit_key_path)
    source.files.mkdir()
    backup_dir = tmp_path / "backup"
    made = run(
        [str(SCRIPTS / "backup.sh"), "--files", str(source.files), str(backup_dir)],
        environment,
    )
    assert made.returncode == 0, made.stderr
    dump = backup_dir / "database.dump"
    damaged = bytearray(dump.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    dump.write_bytes(bytes(damaged))

    refused = run(
        [str(SCRIPTS / "restore.sh"), "--files", str(tmp_path / "out"), str(backup_dir), target],
        environment,
    )
    assert refused.returncode == 1
    assert "does not match its manifest" in refused.stderr
    assert "nothing was restored" in refused.stderr
    with postgres_admin.connect() as connection:
        name = make_url(target).database
        exists = connection.scalar(
            sa.text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}
        )
    assert exists == 0 and not (tmp_path / "out").exists()
