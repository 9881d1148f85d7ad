"""The running log: `portal audit sequencer`, the one process that places committed events in
the tree, signs its heads and hands them to the witnesses.

Several may run (one per host, say); one leads. On PostgreSQL leadership is a session-level
advisory lock taken with `pg_try_advisory_lock` on a connection the leader keeps open: the
others try again every few seconds, and take over once the leader's connection ends (its
process killed, its host gone). Two processes that both believe they lead (a connection cut
and a new leader chosen before the old one noticed) still build one tree: each pass locks the
sequencer's bookmark row and `UNIQUE(event_seq)` refuses a second leaf for an event. On SQLite
(the demo: one process) passes are serialised by `BEGIN IMMEDIATE`, and no lock is needed.

While leading, in this thread: a sequencer pass in its own transaction every 0.2 s (at once
again while a pass finds more than a batch), and in the same transaction a signed tree head
once `[audit] checkpoint_interval_seconds` have passed since the newest and the tree grew, or
as soon as `checkpoint_after_events` leaves were added since it. In a thread of its own, the
witnesses: each new head is handed over at once; a witness that does not answer is tried
again every few seconds, and a wait on it never holds up sequencing.

A lost database is ridden out (portal/db_outage.py): leadership is let go, and taken again
once it answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from portal.audit.checkpoints import latest_tree_head, sign_tree_head
from portal.audit.runtime import log_origin
from portal.audit.sequencer import sequence_pending
from portal.audit.signing import CheckpointSigner, PublicKey
from portal.audit.witnessing import (
    LogKeys,
    Witnesses,
    witness_pending,
    witnesses_from_settings,
)
from portal.config import Settings
from portal.db_outage import DATABASE_DOWN, DatabaseOutage
from portal.models import AuditTreeHead
from portal.models.base import utcnow

log = logging.getLogger(__name__)

# The advisory lock's key: "audit sequencer" for this portal, chosen once (any constant no
# other part of the portal uses as an advisory lock).
LEADER_LOCK = 0x61756469745F7371  # "audit_sq"
PASS_SECONDS = 0.2
LEADER_RETRY_SECONDS = 2.0
# How often the leader checks that its lock's connection is still there.
LEADERSHIP_CHECK_SECONDS = 2.0
# A witness that did not answer is tried again this often; a conflict, less often (it needs a
# person, and each try logs the alarm again).
WITNESS_RETRY_SECONDS = 5.0
WITNESS_CONFLICT_RETRY_SECONDS = 60.0
# Heads signed by someone else (the IG officer's button) are picked up within this.
WITNESS_SWEEP_SECONDS = 30.0


@dataclass(frozen=True)
class Cadence:
    """When the leader signs: after `interval` if the tree grew, or after `after_events`."""

    interval: timedelta
    after_events: int


@dataclass(frozen=True)
class SequencerSetup:
    engine: Engine
    sessions: Callable[[], Session]
    signer: CheckpointSigner
    origin: str
    cadence: Cadence
    witnesses: Witnesses
    # The keys a head may be signed with (the signer's and retired ones), checked before
    # a head is witnessed.
    trusted: tuple[PublicKey, ...]


@dataclass(frozen=True)
class Round:
    sequenced: int
    more: bool  # the pass stopped at its batch: run the next at once
    signed: int | None  # the size of the tree head signed this round


def sequence_and_sign(setup: SequencerSetup) -> Round:
    """One pass, and a tree head if one is due, in one transaction: the pass's lock on the
    bookmark row makes a second sequencer's signing wait for this one's."""
    with setup.sessions() as session, session.begin():
        result = sequence_pending(session)
        signed = None
        if head_due(latest_tree_head(session), result.tree_size, setup.cadence, utcnow()):
            head = sign_tree_head(session, setup.signer, setup.origin)
            signed = head.tree_size if head is not None else None
    if signed is not None:
        log.info("audit sequencer: signed the tree head of %s events", signed)
    return Round(result.sequenced, result.more, signed)


def head_due(head: AuditTreeHead | None, tree_size: int, cadence: Cadence, now: datetime) -> bool:
    """A new head is due when the tree grew since the newest, and either the interval has
    passed since it was signed or `after_events` leaves were added (at once for a first)."""
    grown = tree_size - (head.tree_size if head is not None else 0)
    if grown <= 0:
        return False
    if head is None or grown >= cadence.after_events:
        return True
    return now - head.signed_at >= cadence.interval


class Leadership:
    """Who leads. On PostgreSQL: a session-level advisory lock, held by a connection of its own
    (autocommit, so it never sits in a transaction) for as long as this process leads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._connection: Connection | None = None
        self._checked = 0.0

    def take(self) -> bool:
        if not self.postgres or self._connection is not None:
            return True
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            won = bool(connection.scalar(_TRY_LOCK, {"key": LEADER_LOCK}))
        except BaseException:
            connection.close()
            raise
        if not won:
            connection.close()
            return False
        self._connection, self._checked = connection, time.monotonic()
        return True

    def still_held(self) -> bool:
        """Whether the lock's connection is still there (asked every few seconds)."""
        if not self.postgres:
            return True
        if self._connection is None:
            return False
        if time.monotonic() - self._checked >= LEADERSHIP_CHECK_SECONDS:
            try:
                self._connection.scalar(sa.text("SELECT 1"))
            except DATABASE_DOWN:
                self.release()
                return False
            self._checked = time.monotonic()
        return True

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.scalar(_UNLOCK, {"key": LEADER_LOCK})
        except DATABASE_DOWN:
            connection.invalidate()  # gone with its session, and the lock with it
        finally:
            connection.close()


_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = sa.text("SELECT pg_advisory_unlock(:key)")


class WitnessRounds(threading.Thread):
    """The leader's witnessing, in a thread so that a slow or absent witness never holds up a
    pass. A round runs when a head is signed (`poke`), and every WITNESS_SWEEP_SECONDS for
    heads signed elsewhere; after a witness failed, not before WITNESS_RETRY_SECONDS."""

    def __init__(self, setup: SequencerSetup) -> None:
        super().__init__(name="audit-witnesses", daemon=True)
        self.setup = setup
        self._wake = threading.Event()
        self._finished = threading.Event()

    def poke(self) -> None:
        self._wake.set()

    def finish(self) -> None:
        self._finished.set()
        self._wake.set()

    def run(self) -> None:
        while not self._finished.is_set():
            delay, backing_off = self._round()
            deadline = time.monotonic() + delay
            while not self._finished.is_set() and (remaining := deadline - time.monotonic()) > 0:
                if self._wake.wait(remaining):
                    self._wake.clear()
                    if not backing_off:
                        break

    def _round(self) -> tuple[float, bool]:
        witnesses = self.setup.witnesses
        try:
            log_keys = LogKeys(self.setup.origin, self.setup.trusted)
            progress = witness_pending(
                self.setup.sessions, witnesses.store, witnesses.tsa, log_keys
            )
        except DATABASE_DOWN as error:
            log.warning("audit witnessing: the database is unreachable (%s)", type(error).__name__)
            return WITNESS_RETRY_SECONDS, True
        except Exception:  # a bug here must not end witnessing unseen: logged, tried again
            log.exception("audit witnessing failed")
            return WITNESS_RETRY_SECONDS, True
        if progress.conflict is not None:
            return WITNESS_CONFLICT_RETRY_SECONDS, True
        if progress.unavailable is not None:
            return WITNESS_RETRY_SECONDS, True
        return WITNESS_SWEEP_SECONDS, False


def run_sequencer(setup: SequencerSetup, stop: threading.Event) -> None:
    """Lead when this process can, stand by when another does, until `stop` is set."""
    leadership = Leadership(setup.engine)
    outage = DatabaseOutage("audit sequencer", stop)
    standing_by = False
    try:
        while not stop.is_set():
            try:
                if leadership.take():
                    standing_by = False
                    log.info("audit sequencer: leading")
                    _lead(setup, leadership, stop, outage)
                    if not stop.is_set():
                        log.warning("audit sequencer: no longer leading")
                    continue
                if not standing_by:
                    log.info("audit sequencer: another process leads; standing by")
                    standing_by = True
                outage.answered()
                stop.wait(LEADER_RETRY_SECONDS)
            except DATABASE_DOWN as error:
                leadership.release()
                outage.failed(error)
    finally:
        leadership.release()


def _lead(
    setup: SequencerSetup, leadership: Leadership, stop: threading.Event, outage: DatabaseOutage
) -> None:
    witnesses = setup.witnesses
    rounds = WitnessRounds(setup) if witnesses.store or witnesses.tsa else None
    if rounds is not None:
        rounds.start()
    try:
        while not stop.is_set() and leadership.still_held():
            done = sequence_and_sign(setup)
            outage.answered()
            if done.signed is not None and rounds is not None:
                rounds.poke()
            if not done.more:
                stop.wait(PASS_SECONDS)
    finally:
        if rounds is not None:
            rounds.finish()
            rounds.join(timeout=30)


def sequencer_setup(
    engine: Engine,
    sessions: Callable[[], Session],
    settings: Settings,
    signer: CheckpointSigner,
    trusted: tuple[PublicKey, ...] = (),
) -> SequencerSetup:
    """Everything the sequencer needs, from `[audit]` (the witnesses' settings checked now);
    `trusted`, retired keys whose heads may still wait for a witness."""
    audit = settings.audit
    return SequencerSetup(
        engine=engine,
        sessions=sessions,
        signer=signer,
        origin=log_origin(settings),
        cadence=Cadence(
            timedelta(seconds=audit.checkpoint_interval_seconds), audit.checkpoint_after_events
        ),
        witnesses=witnesses_from_settings(settings),
        trusted=(signer.public, *trusted),
    )
