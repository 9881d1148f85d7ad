"""Rotating the key-encryption key online: `portal keys rotate|activate|rewrap|retire|status`
as their own processes against PostgreSQL, while an app instance that loaded the old keyring
file keeps reading everything (it reloads the file by itself), and the audit trail verifies."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import create_database, drop_database
from portal import db, schema
from portal.attachments import open_attachment
from portal.crypto import (
    FileKeyring,
    KeyringError,
    WrappedKey,
    data_key_context,
    new_data_key,
    runtime,
)
from portal.crypto.keycheck import new_key_check, register_keyring, verify_keyring
from portal.crypto.keyring import read_keyring_keys
from portal.crypto.keyring_file import stage_keyring
from portal.crypto.records import RecordCipher
from portal.crypto.rewrap import rewrap_data_keys
from portal.models import Attachment, AuditEvent, Child, Contribution, KeyCheck
from portal.models.keys import DataKey
from portal.private_files import write_new_private_file
from tests.conftest import BACKENDS
from tests.factories import make_case
from tests.support.deliveries import Outbox
from tests.support.deployment import Deployment, deployment, dispose

pytestmark = pytest.mark.postgres

# Two children, then per accepted contribution its request, itself and one document.
CONTRIBUTIONS = 3
DATA_KEYS = 2 + 3 * CONTRIBUTIONS


@pytest.fixture
def portal(postgres_admin: Engine, audit_key_path: Path, tmp_path: Path) -> Iterator[Deployment]:
    with deployment(postgres_admin, audit_key_path, tmp_path) as deployed:
        with Session(deployed.engine) as session:
            keyring = FileKeyring.load(deployed.keyring_path)
            Outbox(session, keyring, deployed.files).accepted(CONTRIBUTIONS, documents=1)
        yield deployed


@pytest.fixture
def old_app(portal: Deployment) -> Iterator[Flask]:
    """A web process started before the rotation: it loaded keyring version 1 only."""
    app = portal.app()
    yield app
    dispose(app)


def read_everything(app: Flask) -> dict[str, list[object]]:
    """Every sealed thing, opened through the app's keyring as its pages would."""
    settings = app.config["PORTAL_SETTINGS"]
    with app.app_context(), db.database(app).sessions() as session:
        keyring = runtime.keyring(app)
        cipher = RecordCipher(keyring, session)
        children = session.scalars(sa.select(Child).order_by(Child.position))
        answers = session.scalars(sa.select(Contribution).order_by(Contribution.id))
        documents = session.scalars(sa.select(Attachment).order_by(Attachment.id))
        return {
            "children": [cipher.open_text(child, "name_enc") for child in children],
            "answers": [cipher.open_json(c, "answers_enc") for c in answers],
            "documents": [
                b"".join(open_attachment(a, keyring=keyring, settings=settings.attachments))
                for a in documents
            ],
        }


def keyring_of(app: Flask) -> FileKeyring:
    with app.app_context():
        current = runtime.keyring(app).current()  # type: ignore[attr-defined]
    assert isinstance(current, FileKeyring)
    return current


def assert_refused(result: object, message: str) -> None:
    assert result.returncode == 2, result.stdout  # type: ignore[attr-defined]
    assert result.stderr.strip() == f"portal: {message}"  # type: ignore[attr-defined]


def test_rotate_rewraps_everything_online_and_retire_waits_for_the_last_key(
    portal: Deployment, old_app: Flask
) -> None:
    before = read_everything(old_app)
    assert before["children"] == ["Amelia Hart", "Oliver Hart"]
    assert portal.kek_versions() == {1: DATA_KEYS}

    rotated = portal.portal("keys", "rotate", "--batch-size", "4")

    assert rotated.returncode == 0, rotated.stderr
    lines = rotated.stdout.splitlines()
    # Piped, no progress (a terminal gets it: test_cli_progress.py); the summary stays.
    assert not any("rewrapped" in line or "Rewrapping" in line for line in lines)
    assert "Rewrapping" not in rotated.stderr
    assert f"Rewrapped {DATA_KEYS} data keys under key version 2." in lines
    assert portal.kek_versions() == {2: DATA_KEYS}
    # The old process picks the new file up by itself and reads old and new records.
    assert read_everything(old_app) == before
    assert keyring_of(old_app).versions() == {1, 2}
    seal_a_new_child(old_app)
    assert portal.kek_versions() == {2: DATA_KEYS + 1}
    with Session(portal.engine) as session:
        verify_keyring(session, runtime.keyring(old_app))  # what /readyz checks

    portal.portal("keys", "rotate", "--no-rewrap").check_returncode()
    every_key = read_keyring_keys(portal.keyring_path)[0]
    assert every_key.keys() == {1, 2, 3}
    assert_refused(
        portal.portal("keys", "retire", "2"),
        f"{DATA_KEYS + 1} data keys still use key version 2: run `portal keys rewrap` first.",
    )
    assert_refused(
        portal.portal("keys", "retire", "3"),
        "Key version 3 is the active one: rotate to a new version and rewrap before retiring it.",
    )
    assert "Rewrapped" in portal.portal("keys", "rewrap").stdout
    for version in ("2", "1"):
        retired = portal.portal("keys", "retire", version)
        assert retired.returncode == 0, retired.stderr

    assert read_keyring_keys(portal.keyring_path)[0].keys() == {3}
    assert portal.kek_versions() == {3: DATA_KEYS + 1}
    with_new_child = {**before, "children": [*before["children"], "Poppy Hart"]}
    assert read_everything(old_app) == with_new_child
    assert keyring_of(old_app).versions() == {3}
    status = [line.split() for line in portal.portal("keys", "status").stdout.splitlines()]
    assert ["3", "(active)", "yes", "yes", str(DATA_KEYS + 1), "0"] in status
    with Session(portal.engine) as session:
        assert set(session.scalars(sa.select(KeyCheck.kek_version))) == {3}
    assert_audited(portal, every_key.values())
    verified = portal.portal("audit", "verify")
    assert verified.returncode == 0 and "The log is intact" in verified.stdout


def test_nothing_can_be_written_under_a_retired_version(portal: Deployment) -> None:
    # A process that never picked up the rotation: its keyring still wraps under version 1.
    stale = FileKeyring.load(portal.keyring_path)
    portal.portal("keys", "rotate").check_returncode()
    portal.portal("keys", "retire", "1").check_returncode()
    row_id = uuid.uuid4()
    wrapped = stale.wrap(b"k" * 32, data_key_context(row_id))
    with (
        pytest.raises(IntegrityError, match="unregistered key version"),
        portal.engine.begin() as c,
    ):
        c.execute(sa.insert(DataKey).values(id=row_id, kek_version=1, wrapped_key=wrapped.blob))


def test_a_process_behind_a_staged_version_stays_ready_until_data_needs_it(
    portal: Deployment, old_app: Flask
) -> None:
    behind = FileKeyring.load(portal.keyring_path)  # another host, not yet given the new file

    staged = portal.portal("keys", "rotate", "--stage")

    assert staged.returncode == 0, staged.stderr
    assert "run `portal keys activate 2`" in staged.stdout
    assert keyring_of(old_app).versions() == {1, 2} and keyring_of(old_app).active_version == 1
    with Session(portal.engine) as session:
        verify_keyring(session, behind)  # version 2 is registered, but nothing uses it yet
    portal.portal("keys", "activate", "2").check_returncode()
    seal_a_new_child(old_app)  # a host with the new file writes under version 2
    with Session(portal.engine) as session, pytest.raises(KeyringError, match="version 2"):
        verify_keyring(session, behind)  # now it cannot read everything: not ready
    assert portal.kek_versions() == {1: DATA_KEYS, 2: 1}


def test_rewrap_never_undoes_a_shredding_made_while_it_runs(portal: Deployment) -> None:
    portal.portal("keys", "rotate", "--no-rewrap").check_returncode()
    with Session(portal.engine) as session:
        victim = session.scalars(sa.select(Attachment.data_key_id)).first()
    assert victim is not None
    keyring = ShreddingMidway(FileKeyring.load(portal.keyring_path), portal.engine, victim)

    result = rewrap_data_keys(sessionmaker(portal.engine), keyring, batch_size=3)  # type: ignore[arg-type]

    assert keyring.shredded
    assert (result.rewrapped, result.skipped, result.remaining) == (DATA_KEYS - 1, 1, 0)
    with Session(portal.engine) as session:
        row = session.get_one(DataKey, victim)
        assert row.wrapped_key is None and row.kek_version == 1
    assert portal.kek_versions() == {2: DATA_KEYS - 1}


def test_a_changed_file_that_would_lose_a_key_is_not_picked_up(
    portal: Deployment, old_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    before = read_everything(old_app)
    keys, _ = read_keyring_keys(portal.keyring_path)
    with caplog.at_level(logging.ERROR, logger="portal.crypto.reloading"):
        # Another key under the same version number: a keyring from elsewhere.
        stage_keyring(portal.keyring_path, {1: b"x" * 32}, 1).publish()
        assert read_everything(old_app) == before
        stage_keyring(portal.keyring_path, keys, 1).publish()  # put right
        portal.portal("keys", "rotate").check_returncode()
        assert keyring_of(old_app).versions() == {1, 2}
        # Version 1 removed by hand while it is still registered (not `portal keys retire`).
        rotated, _ = read_keyring_keys(portal.keyring_path)
        stage_keyring(portal.keyring_path, {2: rotated[2]}, 2).publish()
        assert read_everything(old_app) == before
        read_everything(old_app)
    assert keyring_of(old_app).versions() == {1, 2}
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "does not match this database" in messages[0]
    assert "lacks version 1, which is still registered" in messages[1]


def test_a_host_with_a_stale_keyring_file_cannot_undo_a_rotation(
    portal: Deployment, tmp_path: Path
) -> None:
    portal.portal("keys", "rotate", "--stage").check_returncode()
    # Host B was given the staged file (version 2 present, 1 still active), then not the next.
    host_b = replace(portal, keyring_path=tmp_path / "host-b" / "keyring.json")
    write_new_private_file(host_b.keyring_path, portal.keyring_path.read_bytes())
    portal.portal("keys", "activate", "2").check_returncode()
    stale = (
        "This keyring's active key version is 1 but version 2 is newer: run `portal keys "
        "activate 2` first, or copy here the keyring file of the host where it was activated."
    )
    files = (portal.keyring_path.read_bytes(), host_b.keyring_path.read_bytes())
    events = audit_event_count(portal)

    # Retiring the version just activated elsewhere would make every write under it fail.
    assert_refused(host_b.portal("keys", "retire", "2"), stale)
    assert audit_event_count(portal) == events
    portal.portal("keys", "rewrap").check_returncode()
    assert portal.kek_versions() == {2: DATA_KEYS}
    events = audit_event_count(portal)
    assert_refused(host_b.portal("keys", "rewrap"), stale)  # it would move every key back to 1
    assert_refused(
        portal.portal("keys", "activate", "1"),
        "Key version 1 is older than key version 2: a rotation is never undone, so activate 2 "
        "or rotate to a new version instead.",
    )

    assert portal.kek_versions() == {2: DATA_KEYS}
    assert audit_event_count(portal) == events
    with Session(portal.engine) as session:
        assert set(session.scalars(sa.select(KeyCheck.kek_version))) == {1, 2}
    assert (portal.keyring_path.read_bytes(), host_b.keyring_path.read_bytes()) == files

    # Given the current file, host B may go on; and version 1 is retired from host A.
    host_b.keyring_path.unlink()
    write_new_private_file(host_b.keyring_path, portal.keyring_path.read_bytes())
    assert "Rewrapped 0 data keys under key version 2." in host_b.portal("keys", "rewrap").stdout
    portal.portal("keys", "retire", "1").check_returncode()


def test_a_key_change_deletes_copies_of_the_keyring_left_by_an_interrupted_one(
    portal: Deployment,
) -> None:
    keys, _ = read_keyring_keys(portal.keyring_path)
    # A rotation killed after its commit, before its rename: version 2 is registered, and its
    # key is in the copy only, which no process ever loaded (nothing can be under it).
    lost = new_data_key()
    with Session(portal.engine) as session, session.begin():
        session.add(new_key_check(2, lost))
    stage_keyring(portal.keyring_path, {**keys, 2: lost}, 2)
    assert len(copies_beside(portal.keyring_path)) == 1

    refused = portal.portal("keys", "retire", "2")

    assert refused.returncode == 2
    warning, refusal = refused.stderr.strip().splitlines()
    assert "deleted 1 temporary copies of keyring file" in warning
    assert refusal == (
        "portal: This keyring file is out of date (its active key version is 1, the database has "
        "version 2): copy the newest keyring file to this host first, or if no host has "
        "version 2 (a key change was interrupted) run `portal keys rotate`."
    )
    assert copies_beside(portal.keyring_path) == []  # deleted first, whatever the change
    portal.portal("keys", "rotate").check_returncode()
    assert read_keyring_keys(portal.keyring_path)[0].keys() == {1, 3}
    assert portal.kek_versions() == {3: DATA_KEYS}
    status = [line.split() for line in portal.portal("keys", "status").stdout.splitlines()]
    assert ["2", "no", "yes", "0", "0"] in status
    portal.portal("keys", "retire", "2").check_returncode()  # the registration left behind


def test_a_copy_is_kept_while_the_keyring_lacks_a_version_the_data_needs(
    portal: Deployment,
) -> None:
    keys, _ = read_keyring_keys(portal.keyring_path)
    portal.portal("keys", "rotate").check_returncode()
    rotated = portal.keyring_path.read_bytes()
    # The rename lost (power cut before it reached the disk) after data was written under
    # version 2: the old file is back, and the copy written for the rename is the only one.
    stage_keyring(portal.keyring_path, keys, 1).publish()
    copy = portal.keyring_path.with_name(".keyring.json.00112233aabbccdd.tmp")
    write_new_private_file(copy, rotated)

    refused = portal.portal("keys", "rotate")

    assert refused.returncode == 2
    assert "holds data under key version 2, which this keyring lacks" in refused.stderr
    assert copies_beside(portal.keyring_path) == [copy]
    copy.replace(portal.keyring_path)  # what the runbook says to do
    portal.portal("keys", "rotate").check_returncode()
    assert portal.kek_versions() == {3: DATA_KEYS}


def copies_beside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def audit_event_count(portal: Deployment) -> int:
    with Session(portal.engine) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


class ShreddingMidway:
    """The real keyring, except that while rewrap unwraps `victim` someone shreds it (in a
    transaction of their own, committed), as `portal retention run` could at that moment."""

    def __init__(self, keyring: FileKeyring, engine: Engine, victim: uuid.UUID) -> None:
        self.keyring, self.engine, self.victim = keyring, engine, victim
        self.shredded = False

    @property
    def active_version(self) -> int:
        return self.keyring.active_version

    def versions(self) -> frozenset[int]:
        return self.keyring.versions()

    def wrap(self, data_key: bytes, context: bytes) -> WrappedKey:
        return self.keyring.wrap(data_key, context)

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> bytes:
        if context == data_key_context(self.victim) and not self.shredded:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.update(DataKey)
                    .where(DataKey.id == self.victim)
                    .values(wrapped_key=None, shredded_at=datetime.now(UTC))
                )
            self.shredded = True
        return self.keyring.unwrap(wrapped, context)


def seal_a_new_child(app: Flask) -> uuid.UUID:
    with app.app_context(), db.database(app).sessions() as session:
        first = session.scalars(sa.select(Child)).first()
        assert first is not None
        child = Child(case_id=first.case_id, position=9)
        cipher = RecordCipher(runtime.keyring(app), session)
        cipher.seal_text(child, "name_enc", "Poppy Hart")
        cipher.seal_text(child, "date_of_birth_enc", "2020-01-01")
        session.add(child)
        session.commit()
        return child.id


def assert_audited(portal: Deployment, keys: Iterable[bytes]) -> None:
    with Session(portal.engine) as session:
        events = list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
    actions = [event.action for event in events]
    assert actions.count("kek_rotated") == 2
    assert actions.count("kek_retired") == 2
    rewraps = [event for event in events if event.action == "data_keys_rewrapped"]
    assert sum(int(event.details["rewrapped"]) for event in rewraps) == 2 * DATA_KEYS + 1
    assert {event.actor_role for event in events if event.action.startswith("kek")} == {"system"}
    details = json.dumps([event.details for event in events])
    for key in keys:
        assert base64.b64encode(key).decode() not in details and key.hex() not in details


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_0005_upgrades_a_database_holding_sealed_data(
    backend: str, request: pytest.FixtureRequest, keyring: FileKeyring, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'before.db'}"
    else:
        url = create_database(request.getfixturevalue("postgres_admin"), "upgrade")
    engine = db.make_engine(url)
    try:
        # Sealed data made with the models (the head's), then taken down to 0004: 0005 then
        # upgrades a database holding it.
        schema.upgrade(engine)
        with Session(engine) as session, session.begin():
            register_keyring(session, keyring)
            child_id = make_case(session, RecordCipher(keyring, session), "Amelia Hart")[1].id
        schema.downgrade(engine, "0004")
        schema.upgrade(engine)  # SQLite would have to rebuild data_keys for a foreign key

        with Session(engine) as session:
            cipher = RecordCipher(keyring, session)
            assert cipher.open_text(session.get_one(Child, child_id), "name_enc") == "Amelia Hart"
        with pytest.raises(IntegrityError, match="unregistered key version"), engine.begin() as c:
            c.execute(sa.insert(DataKey).values(id=uuid.uuid4(), kek_version=99, wrapped_key=b""))
        schema.downgrade(engine, "0004")
        assert "legal_holds" not in sa.inspect(engine).get_table_names()
        with engine.begin() as c:  # no trigger any more
            c.execute(sa.insert(DataKey).values(id=uuid.uuid4(), kek_version=99, wrapped_key=b""))
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_database(request.getfixturevalue("postgres_admin"), url)
