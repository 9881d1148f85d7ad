"""Signed tree heads handed to the witnesses outside the database: a real checkpoint directory
and a real RFC 3161 TSA on loopback (openssl ts, loopback/tsa.py), each taken away and
brought back. Heads wait while a witness is away and are witnessed, in order, once it returns;
a note already in the store that differs is never overwritten.

Each test has a database of its own: witnessing commits a record per witness answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from loopback.databases import create_database, drop_database, migrated_engine
from loopback.processes import run_portal, wait_until
from loopback.tsa import ROOT_FILE, LoopbackTsa
from portal.audit import AuditAction, record_event
from portal.audit.note import CheckpointBody, sign_note
from portal.audit.sequencer import tree_size
from portal.audit.signing import CheckpointSigner
from portal.audit.witness import CheckpointStore, TimestampAuthority, check_timestamp
from portal.audit.witnessing import LogKeys, witness_pending, witnesses_from_settings
from portal.config import ConfigError
from portal.crypto import FileKeyring
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord
from portal.models.base import utcnow
from portal.observability.metrics import PortalStateCollector
from tests.conftest import test_settings
from tests.support.audit_log import TEST_ORIGIN, sequence_all, settle
from tests.support.sequencing import (
    LEADING,
    SequencerProcess,
    record_backlog,
    sequencer_environment,
)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, keyring: FileKeyring
) -> Iterator[Engine]:
    """A database of its own, PostgreSQL or SQLite."""
    if request.param == "sqlite":
        made = migrated_engine(f"sqlite:///{tmp_path / 'portal.db'}", keyring)
        yield made
        made.dispose()
        return
    admin = request.getfixturevalue("postgres_admin")
    url = create_database(admin, "witnessing")
    made = migrated_engine(url, keyring)
    yield made
    made.dispose()
    drop_database(admin, url)


@pytest.fixture
def own_tsa(tmp_path: Path) -> Iterator[LoopbackTsa]:
    """A TSA of this test's own, to stop and start again (the run's is shared)."""
    running = LoopbackTsa(tmp_path / "tsa").start()
    yield running
    running.stop()


def _signed_heads(engine: Engine, audit_key_path: Path, rounds: int) -> list[int]:
    """`rounds` batches of events, each sequenced and its head signed; the heads' sizes."""
    signer = CheckpointSigner.load(audit_key_path)
    sizes = []
    for _ in range(rounds):
        record_backlog(engine, 7, per_transaction=7)
        with Session(engine) as session:
            head = settle(session, signer)
            assert head is not None
            sizes.append(head.tree_size)
            session.commit()
    return sizes


def _log_keys(audit_key_path: Path) -> LogKeys:
    return LogKeys(TEST_ORIGIN, (CheckpointSigner.load(audit_key_path).public,))


def _records(engine: Engine) -> list[tuple[int, AuditWitness, bytes | None]]:
    with Session(engine) as session:
        rows = session.execute(
            sa.select(
                AuditWitnessRecord.tree_size, AuditWitnessRecord.witness, AuditWitnessRecord.token
            ).order_by(AuditWitnessRecord.witnessed_at, AuditWitnessRecord.tree_size)
        ).all()
    return [(row[0], AuditWitness(row[1]), row[2]) for row in rows]


def _notes(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        return dict(session.execute(sa.select(AuditTreeHead.tree_size, AuditTreeHead.note)).all())


def _metric(engine: Engine, name: str) -> float:
    for family in PortalStateCollector(sessionmaker(engine)).collect():
        if family.name == name:
            return float(family.samples[0].value)
    raise AssertionError(f"no metric {name}")


def test_with_the_tsa_away_the_store_keeps_up_and_the_stamps_follow_in_order(
    engine: Engine, audit_key_path: Path, tmp_path: Path, own_tsa: LoopbackTsa
) -> None:
    sizes = _signed_heads(engine, audit_key_path, 3)
    (tmp_path / "witness").mkdir()
    store = CheckpointStore(tmp_path / "witness")
    tsa = TimestampAuthority(own_tsa.url, own_tsa.trust_roots_pem, timeout=2)
    own_tsa.stop()
    sessions = sessionmaker(engine)

    waiting = witness_pending(sessions, store, tsa, _log_keys(audit_key_path))

    assert waiting.unavailable is not None and waiting.conflict is None
    assert waiting.waiting == 3
    assert _records(engine) == [(size, AuditWitness.STORE, None) for size in sizes]
    assert _metric(engine, "portal_audit_unwitnessed_checkpoints") == 3

    own_tsa.start()
    done = witness_pending(sessions, store, tsa, _log_keys(audit_key_path))

    assert (done.recorded, done.waiting, done.unavailable) == (3, 0, None)
    stamps = [(size, token) for size, witness, token in _records(engine) if witness == "tsa"]
    assert [size for size, _ in stamps] == sizes  # in order
    notes = _notes(engine)
    times = [
        check_timestamp(token or b"", notes[size].encode(), own_tsa.trust_roots_pem)
        for size, token in stamps
    ]
    assert times == sorted(times)
    assert _metric(engine, "portal_audit_unwitnessed_checkpoints") == 0
    assert (
        witness_pending(sessions, store, tsa, _log_keys(audit_key_path)).recorded == 0
    )  # nothing left to do


def test_with_the_store_away_nothing_is_recorded_until_it_returns(
    engine: Engine, audit_key_path: Path, tmp_path: Path, own_tsa: LoopbackTsa
) -> None:
    """A head goes to the TSA only once the store holds it: the store's absence (its volume
    not mounted) stops the round, and no record claims what no witness holds."""
    sizes = _signed_heads(engine, audit_key_path, 2)
    store = CheckpointStore(tmp_path / "not-mounted")
    tsa = TimestampAuthority(own_tsa.url, own_tsa.trust_roots_pem, timeout=2)
    sessions = sessionmaker(engine)

    waiting = witness_pending(sessions, store, tsa, _log_keys(audit_key_path))

    assert waiting.unavailable is not None and waiting.recorded == 0
    assert _records(engine) == []
    assert not (tmp_path / "not-mounted").exists()  # never made on the disk beneath

    (tmp_path / "not-mounted").mkdir()
    assert witness_pending(sessions, store, tsa, _log_keys(audit_key_path)).waiting == 0
    records = _records(engine)
    assert [(size, witness) for size, witness, _ in records] == [
        (size, witness) for size in sizes for witness in (AuditWitness.STORE, AuditWitness.TSA)
    ]
    notes = _notes(engine)
    assert {size: store.get(size) for size in sizes} == notes


def test_a_different_note_in_the_store_is_never_overwritten(
    engine: Engine,
    audit_key_path: Path,
    tmp_path: Path,
    own_tsa: LoopbackTsa,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sizes = _signed_heads(engine, audit_key_path, 2)
    (tmp_path / "witness" / "checkpoints").mkdir(parents=True)
    store = CheckpointStore(tmp_path / "witness")
    forged = "portal.test/audit\n7\nAAAA\n\n\u2014 someone else\n"
    store.path(sizes[0]).write_text(forged, encoding="utf-8")
    tsa = TimestampAuthority(own_tsa.url, own_tsa.trust_roots_pem, timeout=2)

    with caplog.at_level(logging.ERROR, logger="portal.audit.witnessing"):
        progress = witness_pending(
            sessions := sessionmaker(engine), store, tsa, _log_keys(audit_key_path)
        )
        again = witness_pending(sessions, store, tsa, _log_keys(audit_key_path))

    assert progress.conflict is not None and again.conflict is not None
    assert store.path(sizes[0]).read_text(encoding="utf-8") == forged
    # Neither that head nor any after it is witnessed while the conflict stands.
    assert _records(engine) == []
    assert store.get(sizes[1]) is None
    assert any("CONFLICTS" in record.getMessage() for record in caplog.records)
    assert _metric(engine, "portal_audit_unwitnessed_checkpoints") == 2


def _forged_head(engine: Engine, signer: CheckpointSigner, case: str) -> int:
    """A head row someone with write access to the database added, after one genuine head:
    an unsigned note, a well-signed one beyond the tree, or one whose root is not the tree's."""
    with Session(engine) as session:
        size, root = 1_000_000_000, hashlib.sha256(b"not the tree").digest()
        if case == "wrong root":
            record_event(session, AuditAction.SIGN_IN, details={"late": True})
            session.commit()
            sequence_all(session)
            size = tree_size(session)  # the tree has grown past the genuine head, unsigned
        note = "garbage\n"
        if case != "garbage":
            note = sign_note(CheckpointBody(TEST_ORIGIN, size, root), signer, TEST_ORIGIN)
        session.add(
            AuditTreeHead(
                tree_size=size,
                root_hash=root,
                signed_at=utcnow(),
                key_id=signer.public.key_id,
                note=note,
            )
        )
        session.commit()
    return size


@pytest.mark.parametrize("case", ["garbage", "beyond the tree", "wrong root"])
def test_a_head_that_is_not_the_logs_own_never_reaches_a_witness(
    engine: Engine,
    audit_key_path: Path,
    tmp_path: Path,
    tsa: LoopbackTsa,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    """Witnessing copies a head's row into the append-only store and the TSA's token: a row
    that is not a head this log signed over its own tree is refused as an alarm, each round."""
    [genuine] = _signed_heads(engine, audit_key_path, 1)
    forged = _forged_head(engine, CheckpointSigner.load(audit_key_path), case)
    (tmp_path / "witness").mkdir()
    store = CheckpointStore(tmp_path / "witness")
    tsa_client = TimestampAuthority(tsa.url, tsa.trust_roots_pem, timeout=5)
    sessions = sessionmaker(engine)

    with caplog.at_level(logging.ERROR, logger="portal.audit.witnessing"):
        progress = witness_pending(sessions, store, tsa_client, _log_keys(audit_key_path))
        again = witness_pending(sessions, store, tsa_client, _log_keys(audit_key_path))

    assert progress.conflict is not None and f"{forged} events is refused" in progress.conflict
    assert again.conflict == progress.conflict and again.recorded == 0
    assert store.sizes() == [genuine]
    assert [(size, witness) for size, witness, _ in _records(engine)] == [
        (genuine, AuditWitness.STORE),
        (genuine, AuditWitness.TSA),
    ]
    assert any("REFUSED" in record.getMessage() for record in caplog.records)
    assert _metric(engine, "portal_audit_unwitnessed_checkpoints") == 1


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_the_running_sequencer_waits_for_absent_witnesses_and_catches_up(
    engine: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
    own_tsa: LoopbackTsa,
) -> None:
    """`portal audit sequencer` with the TSA stopped and the store's directory missing: heads
    are signed, none witnessed (the metric counts them); both back, all are witnessed within
    the retry, in order, while sequencing went on meanwhile."""
    own_tsa.stop()
    witness_directory = tmp_path / "witness"
    environment = sequencer_environment(
        engine.url.render_as_string(False),
        keyring_path,
        audit_key_path,
        checkpoint_after_events=20,
        witness_directory=witness_directory,
        tsa_url=own_tsa.url,
        tsa_certificate_file=own_tsa.directory / ROOT_FILE,
    )
    sequencer = SequencerProcess(environment, tmp_path / "sequencer.log")
    try:
        sequencer.wait_for(LEADING)
        for _ in range(4):
            record_backlog(engine, 25, per_transaction=5)
            wait_until(lambda: _metric(engine, "portal_audit_events_waiting") == 0, 5)
        heads = sorted(_notes(engine))
        assert len(heads) >= 3
        assert _records(engine) == []
        assert _metric(engine, "portal_audit_unwitnessed_checkpoints") == len(heads)
        assert "waits for the store" in sequencer.output()

        witness_directory.mkdir()
        own_tsa.start()
        wait_until(
            lambda: _metric(engine, "portal_audit_unwitnessed_checkpoints") == 0,
            20,
            "every head witnessed",
        )
    finally:
        sequencer.stop()
    records = _records(engine)
    stored = [size for size, witness, _ in records if witness == AuditWitness.STORE]
    stamped = [size for size, witness, _ in records if witness == AuditWitness.TSA]
    assert stored == heads and stamped == heads
    store = CheckpointStore(witness_directory)
    assert store.sizes() == heads
    assert dict(store.notes()) == _notes(engine)
    assert "Traceback" not in sequencer.output()


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_witnesses_come_from_the_audit_settings(
    engine: Engine, keyring_path: Path, tmp_path: Path, own_tsa: LoopbackTsa
) -> None:
    url = engine.url.render_as_string(False)
    roots = own_tsa.directory / ROOT_FILE
    none = witnesses_from_settings(test_settings(url, keyring_path))
    assert (none.store, none.tsa, none.tsa_roots) == (None, None, None)

    both = witnesses_from_settings(
        test_settings(
            url,
            keyring_path,
            audit={
                "witness_directory": str(tmp_path),
                "tsa_url": own_tsa.url,
                "tsa_certificate_file": str(roots),
            },
        )
    )
    assert both.store is not None and both.store.directory == tmp_path
    assert both.tsa is not None and both.tsa.url == own_tsa.url
    assert both.tsa_roots == roots.read_bytes()

    with pytest.raises(ConfigError, match="tsa_certificate_file"):
        witnesses_from_settings(test_settings(url, keyring_path, audit={"tsa_url": own_tsa.url}))
    garbage = tmp_path / "not-a-certificate.pem"
    garbage.write_text("not a certificate", encoding="utf-8")
    for unusable in (garbage, tmp_path / "missing.pem"):
        with pytest.raises(ConfigError, match="tsa_certificate_file"):
            witnesses_from_settings(
                test_settings(
                    url,
                    keyring_path,
                    audit={"tsa_url": own_tsa.url, "tsa_certificate_file": str(unusable)},
                )
            )


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_portal_audit_checkpoint_places_signs_and_witnesses_at_once(
    engine: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path: Path,
    own_tsa: LoopbackTsa,
) -> None:
    record_backlog(engine, 12, per_transaction=4)
    (tmp_path / "witness").mkdir()
    environment = sequencer_environment(
        engine.url.render_as_string(False),
        keyring_path,
        audit_key_path,
        witness_directory=tmp_path / "witness",
        tsa_url=own_tsa.url,
        tsa_certificate_file=own_tsa.directory / ROOT_FILE,
    )

    said = run_portal(environment, "audit", "checkpoint")

    assert "Checkpoint of 12 events" in said and "Every checkpoint is witnessed." in said
    assert CheckpointStore(tmp_path / "witness").get(12) == _notes(engine)[12]
    assert [(size, witness) for size, witness, _ in _records(engine)] == [
        (12, AuditWitness.STORE),
        (12, AuditWitness.TSA),
    ]
