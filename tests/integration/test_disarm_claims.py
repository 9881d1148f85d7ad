"""Disarm workers on PostgreSQL, on connections of their own (committed data, not the
savepoint-bound fixtures): a document one worker is converting is never claimed by another,
which takes the next one instead; a document's key cannot be shredded while its outcome is
recorded."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import create_database, drop_database, migrated_engine
from portal.crypto import FileKeyring
from portal.disarm import SafeCopy
from portal.disarm import worker as worker_module
from portal.disarm.worker import DisarmCounts, DisarmWorker
from portal.models import Attachment, DataKey, SafeCopyStatus
from portal.settings import Settings
from tests.conftest import test_settings
from tests.support.deliveries import Outbox


@pytest.fixture
def database(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[Engine]:
    url = create_database(postgres_admin, "disarm_claims")
    engine = migrated_engine(url, keyring)
    yield engine
    engine.dispose()
    drop_database(postgres_admin, url)


def pending(
    database: Engine, keyring: FileKeyring, keyring_path: Path, tmp_path: Path, documents: int
) -> Settings:
    """An accepted contribution whose `documents` wait for their safe copies (committed);
    the settings to make them with."""
    files = tmp_path / "files"
    with Session(database) as session:
        Outbox(session, keyring, files).accepted(1, documents=documents)
        session.execute(sa.update(Attachment).values(safe_status=SafeCopyStatus.PENDING))
        session.commit()
    return test_settings(
        database.url.render_as_string(False),
        keyring_path,
        attachments={"storage_directory": str(files), "scanner": "none"},
    )


def test_a_document_being_converted_is_not_claimed_by_a_second_worker(
    database: Engine, keyring: FileKeyring, keyring_path: Path, tmp_path: Path
) -> None:
    settings = pending(database, keyring, keyring_path, tmp_path, documents=2)
    with Session(database) as session:
        documents = set(session.scalars(sa.select(Attachment.id)))
    converting, release = threading.Event(), threading.Event()
    made: dict[str, list[uuid.UUID]] = {"first": [], "second": []}

    def converter(name: str, block: bool) -> DisarmWorker:
        worker = DisarmWorker(sessionmaker(database), settings, keyring, name=name)

        # A stand-in for make_safe that waits on an Event: the claim is under test here, not
        # the conversion (tests/integration/test_disarm_worker.py runs the real engine).
        def make_safe(content: bytes, *_arguments: object) -> SafeCopy:
            with Session(database) as session:  # which document it was given
                held = session.scalars(
                    sa.select(Attachment.id).where(Attachment.safe_claimed_by == name)
                ).one()
            made[name].append(held)
            if block:
                converting.set()
                assert release.wait(30)
            return SafeCopy(content=b"made safe\n", content_type="text/plain", pages=None)

        worker.converter = make_safe
        return worker

    first, second = converter("first", block=True), converter("second", block=False)
    counts: list[DisarmCounts] = []
    thread = threading.Thread(target=lambda: counts.append(first.make_due()))
    thread.start()
    try:
        assert converting.wait(30)  # the first worker holds one document, mid-conversion
        assert second.make_due().ready == 1  # on its own connections: it takes the other one
    finally:
        release.set()
        thread.join(30)
    assert counts[0].ready == 1  # and then the first finds nothing left
    assert made["first"] != made["second"] and set(made["first"] + made["second"]) == documents
    with Session(database) as session:
        statuses = set(session.scalars(sa.select(Attachment.safe_status)))
    assert statuses == {SafeCopyStatus.READY}


def test_a_document_cannot_be_shredded_while_its_outcome_is_recorded(
    database: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the worker writes the safe copy, its data key's row is locked: shredding waits
    until READY is recorded (and is then seen by whoever shreds), never in between."""
    settings = pending(database, keyring, keyring_path, tmp_path, documents=1)
    with Session(database) as session:
        key_id = session.scalars(sa.select(Attachment.data_key_id)).one()
    worker = DisarmWorker(sessionmaker(database), settings, keyring, name="recording")
    worker.converter = lambda content, *_: SafeCopy(content, "text/plain", None)
    write_safe_copy = worker_module.write_safe_copy
    shred_tried: list[bool] = []

    def shredding_meanwhile(*arguments: object, **keywords: object) -> None:
        with database.connect() as connection:  # as retention would, on its own connection
            connection.execute(sa.text("SET lock_timeout = '200ms'"))
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                connection.execute(
                    sa.update(DataKey).where(DataKey.id == key_id).values(wrapped_key=None)
                )
            shred_tried.append(True)
        write_safe_copy(*arguments, **keywords)

    monkeypatch.setattr(worker_module, "write_safe_copy", shredding_meanwhile)
    assert worker.make_due().ready == 1 and shred_tried == [True]
