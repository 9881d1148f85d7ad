"""The signed tree heads, checked against the trusted keys and the witnesses outside the
database: the checkpoint store and the time-stamping authority's tokens.

What comes out is the list of roots the recomputed tree must meet (every head the database
holds and every note the store holds, each opened with a trusted key) and which heads are
witnessed. A head is witnessed when the store holds exactly the note the database holds and,
where a TSA is configured, its token over that note verifies. The database may hold newer heads
the store lacks yet (the witnesses are called after signing): those are unwitnessed, which is
not damage; a head older than a witnessed one that the store lacks is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.note import NoteError, OpenedNote, open_note
from portal.audit.signing import PublicKey
from portal.audit.verify_report import REWRITTEN, WITNESS, Damage
from portal.audit.verify_witness_gaps import empty_store, stamps_out_of_order, tsa_gaps
from portal.audit.witness import (
    CheckpointStore,
    TimestampInvalid,
    WitnessConflict,
    WitnessUnavailable,
    check_timestamp,
)
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord


class WitnessConfig(Protocol):
    """What verification needs of portal.audit.witnessing.Witnesses."""

    @property
    def store(self) -> CheckpointStore | None: ...

    @property
    def tsa_roots(self) -> bytes | None: ...


@dataclass(frozen=True)
class Trust:
    """What a check trusts, all of it outside the database."""

    keys: tuple[PublicKey, ...]
    origin: str
    witnesses: WitnessConfig
    # How often a checkpoint is due ([audit] checkpoint_interval_seconds).
    interval_seconds: int = 60

    def open(self, note: str) -> OpenedNote:
        return open_note(note, [(self.origin, key) for key in self.keys])


@dataclass
class HeadCheck:
    """The heads as checked: sizes with the root the tree must have there, the first head
    (its extension lines anchor the old chain), witnessed and unwitnessed sizes, problems."""

    roots: dict[int, tuple[bytes, str]] = field(default_factory=dict)
    first: OpenedNote | None = None
    witnessed: list[int] = field(default_factory=list)
    unwitnessed: list[int] = field(default_factory=list)
    problems: list[Damage] = field(default_factory=list)
    heads_checked: int = 0
    tokens_checked: int = 0
    stamped_at: dict[int, datetime] = field(default_factory=dict)
    store_unreadable: bool = False


def check_heads(session: Session, trust: Trust, from_size: int = 0) -> HeadCheck:
    """Every head of size `from_size` or more (all of them for a full check) against the keys
    and witnesses; which sizes the database and the store hold is compared whole (two lists of
    numbers), so a head deleted before `from_size` is still found."""
    result = HeadCheck()
    heads = _database_heads(session, trust, from_size, result)
    stored = _stored_notes(trust, from_size, result)
    all_sizes = set(session.scalars(sa.select(AuditTreeHead.tree_size)))
    _compare(heads, stored, all_sizes, result)
    _check_records(session, trust, heads, stored, from_size, result)
    _absences(session, trust, stored, from_size, result)
    _witnessed(heads, stored, trust, result)
    return result


def _absences(
    session: Session, trust: Trust, stored: dict[int, str] | None, from_size: int, result: HeadCheck
) -> None:
    """What is missing: every note from a store that was read, a token below a later one, a
    token's time in order (portal/audit/verify_witness_gaps.py)."""
    if stored is not None and not stored and not result.store_unreadable:
        _add(result, empty_store(session, trust.interval_seconds))
    _add(result, tsa_gaps(session, from_size))
    _add(result, stamps_out_of_order(result.stamped_at))


def _add(result: HeadCheck, damage: Damage | None) -> None:
    if damage is not None:
        result.problems.append(damage)


def _database_heads(
    session: Session, trust: Trust, from_size: int, result: HeadCheck
) -> dict[int, str]:
    """size -> note of every head whose note opens and says what its row says."""
    kept: dict[int, str] = {}
    rows = session.execute(
        sa.select(AuditTreeHead.tree_size, AuditTreeHead.root_hash, AuditTreeHead.note)
        .where(AuditTreeHead.tree_size >= from_size)
        .order_by(AuditTreeHead.tree_size)
    )
    for size, root, note in rows:
        result.heads_checked += 1
        try:
            opened = trust.open(note)
        except NoteError as error:
            result.problems.append(_forged(size, f"it is not signed by a trusted key ({error})"))
            continue
        body = opened.body
        if (body.origin, body.size, body.root) != (trust.origin, size, root):
            result.problems.append(_forged(size, "its row does not say what its note signs"))
            continue
        if result.first is None and from_size == 0:
            result.first = opened
        kept[size] = note
        result.roots[size] = (root, "signed in the database")
    return kept


def _forged(size: int, why: str) -> Damage:
    return Damage(
        REWRITTEN,
        None,
        f"The checkpoint of {size} events in the database cannot be trusted: {why}. It was "
        "made or altered without the signing key.",
        size,
    )


def _stored_notes(trust: Trust, from_size: int, result: HeadCheck) -> dict[int, str] | None:
    """size -> note the store holds (None without a store), each opened with a trusted key;
    notes below `from_size` are listed but not read."""
    store = trust.witnesses.store
    if store is None:
        return None
    try:
        sizes = store.sizes()
        notes = {size: store.get(size) for size in sizes if size >= from_size}
    except (WitnessConflict, WitnessUnavailable) as error:
        result.problems.append(
            Damage(WITNESS, None, f"The witness store could not be read: {error}", 0)
        )
        result.store_unreadable = True
        return {}
    stored: dict[int, str] = dict.fromkeys((size for size in sizes if size < from_size), "")
    for size, note in notes.items():
        if note is None:
            continue
        try:
            opened = trust.open(note)
        except NoteError as error:
            result.problems.append(_bad_store_note(size, f"no trusted key signed it ({error})"))
            continue
        if opened.body.size != size or opened.body.origin != trust.origin:
            result.problems.append(_bad_store_note(size, "it names another log or size"))
            continue
        stored[size] = note
        result.roots.setdefault(size, (opened.body.root, "held by the witness store"))
    return stored


def _bad_store_note(size: int, why: str) -> Damage:
    return Damage(
        WITNESS,
        None,
        f"The witness store's checkpoint of {size} events cannot be trusted: {why}.",
        size,
    )


def _compare(
    heads: dict[int, str], stored: dict[int, str] | None, all_sizes: set[int], result: HeadCheck
) -> None:
    """The store's notes against the database's heads: each must be there, the same."""
    if stored is None:
        return
    for size, note in sorted(stored.items()):
        if size not in all_sizes:
            result.problems.append(
                Damage(
                    REWRITTEN,
                    None,
                    f"The witness store holds a checkpoint of {size} events that the database "
                    "no longer has: it was deleted from the database, as someone rewriting "
                    "the log would need to.",
                    size,
                )
            )
        elif note and size in heads and heads[size] != note:
            result.problems.append(
                Damage(
                    REWRITTEN,
                    None,
                    f"The database's checkpoint of {size} events is not the one the witness "
                    "store holds: one of them was replaced by someone holding the signing key.",
                    size,
                )
            )
    newest = max(stored, default=-1)
    for size in sorted(heads):
        if size < newest and size not in stored:
            result.problems.append(
                Damage(
                    WITNESS,
                    None,
                    f"The witness store lacks the checkpoint of {size} events, although it "
                    f"holds the later one of {newest}: it was removed from the store, or "
                    "added to the database afterwards.",
                    size,
                )
            )


def _check_records(
    session: Session,
    trust: Trust,
    heads: dict[int, str],
    stored: dict[int, str] | None,
    from_size: int,
    result: HeadCheck,
) -> None:
    """Each witness record names a head the database has; a store record, a note the store
    holds; a TSA token, the head's note, verified against the TSA's trust roots."""
    roots = trust.witnesses.tsa_roots
    rows = session.execute(
        sa.select(
            AuditWitnessRecord.tree_size, AuditWitnessRecord.witness, AuditWitnessRecord.token
        )
        .where(AuditWitnessRecord.tree_size >= from_size)
        .order_by(AuditWitnessRecord.tree_size)
    )
    for size, witness, token in rows:
        note = heads.get(size)
        if note is None:
            if not any(problem.position == size for problem in result.problems):
                result.problems.append(_record_without_head(size))
            continue
        if AuditWitness(witness) == AuditWitness.STORE:
            if stored is not None and size not in stored:
                result.problems.append(
                    Damage(
                        WITNESS,
                        None,
                        f"The database records that the witness store took the checkpoint of "
                        f"{size} events, but the store does not hold it: it was removed "
                        "from the store.",
                        size,
                    )
                )
        elif roots is not None:
            result.tokens_checked += 1
            _check_token(size, token, note, roots, result)


def _record_without_head(size: int) -> Damage:
    return Damage(
        REWRITTEN,
        None,
        f"A witness took a checkpoint of {size} events that the database no longer has: it was "
        "deleted from the database.",
        size,
    )


def _check_token(
    size: int, token: bytes | None, note: str, roots: bytes, result: HeadCheck
) -> None:
    try:
        result.stamped_at[size] = check_timestamp(token or b"", note.encode("utf-8"), roots)
    except TimestampInvalid as error:
        result.problems.append(
            Damage(
                WITNESS,
                None,
                f"The time-stamp kept for the checkpoint of {size} events does not prove it: "
                f"{error}",
                size,
            )
        )


def _witnessed(
    heads: dict[int, str], stored: dict[int, str] | None, trust: Trust, result: HeadCheck
) -> None:
    """Witnessed: the store holds the very note (and, with a TSA, its token verified)."""
    stamped = trust.witnesses.tsa_roots is None
    for size, note in sorted(heads.items()):
        held = stored is not None and stored.get(size) == note
        if held and (stamped or size in result.stamped_at):
            result.witnessed.append(size)
        else:
            result.unwitnessed.append(size)


@dataclass(frozen=True)
class HeadWitnesses:
    """What the checkpoints page shows for one head: does the store hold it ("held",
    "missing", "different", or None without a store), and when the TSA saw it."""

    store: str | None
    stamped_at: datetime | None
    stamp_problem: str | None


def witnesses_of(
    session: Session, witnesses: WitnessConfig, heads: Sequence[AuditTreeHead]
) -> dict[int, HeadWitnesses]:
    """The witnesses of a page of heads (the store read for each, the tokens checked)."""
    sizes = [head.tree_size for head in heads]
    rows = session.execute(
        sa.select(AuditWitnessRecord.tree_size, AuditWitnessRecord.token).where(
            AuditWitnessRecord.tree_size.in_(sizes),
            AuditWitnessRecord.witness == AuditWitness.TSA,
        )
    )
    tokens: dict[int, bytes | None] = {size: token for size, token in rows}
    return {head.tree_size: _one(witnesses, head, tokens) for head in heads}


def _one(
    witnesses: WitnessConfig, head: AuditTreeHead, tokens: dict[int, bytes | None]
) -> HeadWitnesses:
    store: str | None = None
    if witnesses.store is not None:
        try:
            kept = witnesses.store.get(head.tree_size)
        except WitnessUnavailable:
            kept = None
        store = "missing" if kept is None else "held" if kept == head.note else "different"
    moment, problem = None, None
    if head.tree_size in tokens and witnesses.tsa_roots is not None:
        token = tokens[head.tree_size] or b""
        try:
            moment = check_timestamp(token, head.note.encode("utf-8"), witnesses.tsa_roots)
        except TimestampInvalid as error:
            problem = str(error)
    return HeadWitnesses(store, moment, problem)
