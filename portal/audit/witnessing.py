"""Handing signed tree heads to the witnesses outside the database, in order, and keeping what
each gave back (`audit_witness_records`).

A head counts as witnessed once the append-only checkpoint store holds it (written first) and
the time-stamping authority's token over it is kept. Its record is inserted only after the
witness answered, so a record never claims more than a witness holds; a crash between the two
leaves the head to be handed over again, which the store takes as a no-op (the same bytes) and
the TSA simply stamps again.

No transaction is open while a witness is called: on SQLite a transaction holds the database's
only write lock, and on PostgreSQL one that waits on a TSA would hold back the sequencer's
bookmark. So this takes a session factory and uses a short transaction for each read and each
record.

A witness that cannot be reached (WitnessUnavailable) leaves its heads waiting, to be handed
over on a later round: the store's outage stops the round (a head goes to the TSA only once
the store holds it), the TSA's stops only the stamping, so the store keeps up meanwhile. A
store that already holds a different note for a size (WitnessConflict) is an alarm: logged as
an error, never overwritten, and nothing after it is witnessed until a person has looked.

A head's row is not taken on trust: someone who can write to the database could add one. Before
any witness sees it, its note must open with the log's own key and name, and say the row's size
and root; the size must be within the tree, and the root the tree's root at that size. A head
failing that is the same alarm as a conflict: never witnessed, and the round stops there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit.note import NoteError, open_note
from portal.audit.sequencer import tree_size
from portal.audit.signing import PublicKey
from portal.audit.tree_store import MissingNode, StoredTree
from portal.audit.witness import (
    CheckpointStore,
    TimestampAuthority,
    TimestampInvalid,
    WitnessConflict,
    WitnessUnavailable,
)
from portal.config import ConfigError, Settings
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord
from portal.models.base import utcnow

log = logging.getLogger(__name__)

# Heads handed over per round; a round after a long outage catches up a batch at a time.
ROUND_LIMIT = 200
# How long to wait for the TSA's answer before the head waits for the next round.
TSA_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Witnesses:
    """The witnesses `[audit]` names (None where a setting is unset: only production requires
    them), and the TSA's trust roots for checking its tokens."""

    store: CheckpointStore | None
    tsa: TimestampAuthority | None
    tsa_roots: bytes | None


def witnesses_from_settings(settings: Settings) -> Witnesses:
    """The checkpoint store and TSA client from `[audit] witness_directory`, `tsa_url` and
    `tsa_certificate_file`; a setting that cannot be used stops start-up in one sentence."""
    audit = settings.audit
    store = CheckpointStore(audit.witness_directory) if audit.witness_directory else None
    if audit.tsa_url and audit.tsa_certificate_file is None:
        raise ConfigError(
            "[audit] tsa_url is set without tsa_certificate_file: point it at the "
            "time-stamping authority's trust root (PEM), to check its tokens."
        )
    roots = _read_roots(audit.tsa_certificate_file) if audit.tsa_certificate_file else None
    tsa = None
    if audit.tsa_url and roots is not None:
        try:
            tsa = TimestampAuthority(audit.tsa_url, roots, TSA_TIMEOUT_SECONDS)
        except TimestampInvalid as error:
            raise ConfigError(f"[audit] tsa_certificate_file: {error}") from None
    return Witnesses(store, tsa, roots)


def _read_roots(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(
            f"[audit] tsa_certificate_file {path} cannot be read ({error.strerror})."
        ) from None


@dataclass(frozen=True)
class WitnessProgress:
    """What one round did: records added, heads still lacking a configured witness's record,
    and what stopped it (each message names the witness, never an event)."""

    recorded: int
    waiting: int
    unavailable: str | None = None
    conflict: str | None = None


@dataclass(frozen=True)
class LogKeys:
    """The log's name (`[audit] log_origin`) and the keys its heads may be signed with (the
    signing key and any retired ones): what a head must open with before it is witnessed."""

    origin: str
    keys: tuple[PublicKey, ...]


@dataclass(frozen=True)
class _Pending:
    size: int
    root: bytes
    note: str
    stored: bool
    stamped: bool


def witness_pending(
    sessions: Callable[[], Session],
    store: CheckpointStore | None,
    tsa: TimestampAuthority | None,
    log_keys: LogKeys,
    *,
    limit: int = ROUND_LIMIT,
) -> WitnessProgress:
    """Hand the heads that lack a configured witness's record to it, smallest first; a head
    that is not the log's own (`unsound_head`) is refused as a conflict and stops the round."""
    recorded, unavailable, conflict = 0, None, None
    tsa_down = False
    for head in _pending(sessions, store is not None, tsa is not None, limit):
        refused = unsound_head(sessions, head.size, head.root, head.note, log_keys)
        if refused is not None:
            log.error("audit checkpoint %s is REFUSED, not witnessed: %s", head.size, refused)
            conflict = f"The signed tree head of {head.size} events is refused: {refused}."
            break
        if store is not None and not head.stored:
            try:
                store.put(head.size, head.note)
            except WitnessUnavailable as error:
                log.warning("audit checkpoint %s waits for the store: %s", head.size, error)
                unavailable = str(error)
                break
            except WitnessConflict as error:
                log.error("audit checkpoint %s CONFLICTS with the store: %s", head.size, error)
                conflict = str(error)
                break
            recorded += _record(sessions, head.size, AuditWitness.STORE, None)
        if tsa is not None and not head.stamped and not tsa_down:
            try:
                token = tsa.stamp(head.note.encode("utf-8"))
            except WitnessUnavailable as error:
                log.warning("audit checkpoint %s waits for the TSA: %s", head.size, error)
                unavailable, tsa_down = str(error), True
                continue
            recorded += _record(sessions, head.size, AuditWitness.TSA, token)
    waiting = _count_waiting(sessions, store is not None, tsa is not None)
    return WitnessProgress(recorded, waiting, unavailable, conflict)


def unsound_head(
    sessions: Callable[[], Session], size: int, root: bytes, note: str, log_keys: LogKeys
) -> str | None:
    """Why the head row (`size`, `root`, `note`) is not one this log signed over its own tree,
    or None: its note must open with the log's key and name and say the row's size and root,
    and the tree must reach that size with that root. The reason names no event."""
    try:
        opened = open_note(note, [(log_keys.origin, key) for key in log_keys.keys])
    except NoteError as error:
        return f"its note is not signed by the log's key ({error})"
    body = opened.body
    if body.origin != log_keys.origin:
        return "its note names another log"
    if (body.size, body.root) != (size, root):
        return "its note's size or root is not the row's"
    with sessions() as session, session.begin():
        if size > tree_size(session):
            return "it is larger than the tree"
        try:
            tree_root = StoredTree(session).root(size)
        except MissingNode:
            return "the tree lacks a node it needs"
    if tree_root != root:
        return "its root is not the tree's root at that size"
    return None


def _lacks(witness: AuditWitness) -> sa.ColumnElement[bool]:
    return ~sa.exists().where(
        AuditWitnessRecord.tree_size == AuditTreeHead.tree_size,
        AuditWitnessRecord.witness == witness,
    )


def _lacking_any(store: bool, tsa: bool) -> sa.ColumnElement[bool]:
    wanted = [_lacks(w) for w, on in ((AuditWitness.STORE, store), (AuditWitness.TSA, tsa)) if on]
    return sa.or_(*wanted) if wanted else sa.false()


def _pending(sessions: Callable[[], Session], store: bool, tsa: bool, limit: int) -> list[_Pending]:
    stored, stamped = _lacks(AuditWitness.STORE), _lacks(AuditWitness.TSA)
    query = (
        sa.select(
            AuditTreeHead.tree_size, AuditTreeHead.root_hash, AuditTreeHead.note, stored, stamped
        )
        .where(_lacking_any(store, tsa))
        .order_by(AuditTreeHead.tree_size)
        .limit(limit)
    )
    with sessions() as session, session.begin():
        rows = session.execute(query).all()
    return [_Pending(row[0], row[1], row[2], not row[3], not row[4]) for row in rows]


def _record(
    sessions: Callable[[], Session], size: int, witness: AuditWitness, token: bytes | None
) -> int:
    """Keep that `witness` holds head `size`; 0 if a record was already there (another
    sequencer that also believed it led got there first)."""
    try:
        with sessions() as session, session.begin():
            session.add(
                AuditWitnessRecord(
                    tree_size=size, witness=witness, token=token, witnessed_at=utcnow()
                )
            )
    except IntegrityError:
        return 0
    return 1


def _count_waiting(sessions: Callable[[], Session], store: bool, tsa: bool) -> int:
    query = sa.select(sa.func.count()).select_from(AuditTreeHead).where(_lacking_any(store, tsa))
    with sessions() as session, session.begin():
        return int(session.scalar(query) or 0)


def unwitnessed_heads(session: Session) -> int:
    """Signed tree heads that the store or the TSA does not yet hold (both are required for
    a head to count as witnessed), in the caller's transaction: the metric's figure."""
    query = sa.select(sa.func.count()).select_from(AuditTreeHead).where(_lacking_any(True, True))
    return int(session.scalar(query) or 0)
