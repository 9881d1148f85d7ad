"""The hash chain recorded before migration 0013: a database at 0012 with chained events and
an old signed checkpoint, upgraded in place, verifies as the tree's first leaves, anchored in
the first tree checkpoint's `portal-chain-head` line; an edit to an old event fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.databases import create_database, drop_database
from portal import db, schema
from portal.audit.chain import GENESIS_HASH, checkpoint_message, content_digest, link, timestamp
from portal.audit.signing import CheckpointSigner
from portal.audit.witnessing import Witnesses
from tests.support.log_checks import as_superuser, checkpoint, execute, store_witnesses, verify

OLD_EVENTS = 6
_EVENTS = sa.table(
    "audit_events",
    *(
        sa.column(name)
        for name in ("seq", "actor_role", "action", "object_type", "outcome", "prev_hash", "hash")
    ),
    sa.column("occurred_at", sa.DateTime(timezone=True)),
    sa.column("details", sa.JSON()),
)
_CHECKPOINTS = sa.table(
    "audit_checkpoints",
    sa.column("seq"),
    sa.column("head_hash"),
    sa.column("signed_at", sa.DateTime(timezone=True)),
    sa.column("key_id"),
    sa.column("signature"),
)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine_at_0012(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
        schema.upgrade(engine, "0012")
        yield engine
        engine.dispose()
        return
    admin = request.getfixturevalue("postgres_admin")
    url = create_database(admin, "legacy")
    engine = db.make_engine(url)
    schema.upgrade(engine, "0012")
    yield engine
    engine.dispose()
    drop_database(admin, url)


def old_fields(seq: int, moment: datetime, action: str, object_type: str | None) -> dict[str, Any]:
    return {
        "seq": seq,
        "occurred_at": timestamp(moment),
        "actor_user_id": None,
        "actor_organisation_id": None,
        "actor_role": "system",
        "action": action,
        "object_type": object_type,
        "object_id": None,
        "case_reference": None,
        "outcome": "success",
        "request_id": None,
        "client_address": None,
        "user_agent": None,
        "details": {"n": seq},
    }


def record_old_chain(engine: Engine, signer: CheckpointSigner) -> None:
    """Events chained as the portal recorded them before 0013, the last one the old
    checkpoint's own `audit_checkpoint_signed` event, signed as the old code signed it."""
    start = datetime.now(UTC) - timedelta(hours=1)
    previous, rows = GENESIS_HASH, []
    for seq in range(1, OLD_EVENTS + 1):
        signing = seq == OLD_EVENTS
        action = "audit_checkpoint_signed" if signing else "sign_in"
        moment = start + timedelta(seconds=seq)
        fields = old_fields(seq, moment, action, "audit_checkpoint" if signing else None)
        current = link(previous, content_digest(fields))
        rows.append(
            {
                "seq": seq,
                "occurred_at": moment,
                "actor_role": "system",
                "action": action,
                "object_type": fields["object_type"],
                "outcome": "success",
                "details": fields["details"],
                "prev_hash": previous,
                "hash": current,
            }
        )
        previous = current
    signed_at = start + timedelta(minutes=5)
    with engine.begin() as connection:
        connection.execute(_EVENTS.insert(), rows)
        connection.execute(
            _CHECKPOINTS.insert(),
            {
                "seq": OLD_EVENTS,
                "head_hash": previous,
                "signed_at": signed_at,
                "key_id": signer.public.key_id,
                "signature": signer.sign(checkpoint_message(OLD_EVENTS, previous, signed_at)),
            },
        )


@pytest.fixture
def upgraded(
    engine_at_0012: Engine, audit_key_path: Path, tmp_path: Path
) -> tuple[Session, CheckpointSigner, Witnesses]:
    signer = CheckpointSigner.load(audit_key_path)
    record_old_chain(engine_at_0012, signer)
    schema.upgrade(engine_at_0012)
    return Session(engine_at_0012), signer, store_witnesses(tmp_path / "store")


def test_the_migrated_chain_verifies_as_the_first_leaves(
    upgraded: tuple[Session, CheckpointSigner, Witnesses],
) -> None:
    session, signer, witnesses = upgraded
    with session, session.begin():
        first = checkpoint(session, signer, witnesses)
        report = verify(session, signer, witnesses)
    assert report.intact, report.damage
    assert first == OLD_EVENTS
    assert (report.legacy_events, report.legacy_checkpoints_checked) == (OLD_EVENTS, 1)
    assert report.witnessed == [OLD_EVENTS]


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("UPDATE audit_events SET action = 'sign_out' WHERE seq = 3", "changed"),
        ("UPDATE audit_events SET prev_hash = {first} WHERE seq = 3", "changed"),
        ("UPDATE audit_checkpoints SET head_hash = {first}", "rewritten"),
    ],
)
def test_an_edit_to_the_old_chain_fails(
    upgraded: tuple[Session, CheckpointSigner, Witnesses], statement: str, kind: str
) -> None:
    session, signer, witnesses = upgraded
    with session, session.begin():
        checkpoint(session, signer, witnesses)
        as_superuser(session)
        first_hash = "(SELECT hash FROM audit_events WHERE seq = 1)"
        execute(session, statement.format(first=first_hash))
        report = verify(session, signer, witnesses)
        session.rollback()
    assert report.damage is not None
    assert report.damage.kind == kind, report.damage
