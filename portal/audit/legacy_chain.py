"""The hash chain of the events recorded before migration 0013, checked as the tree's walk
meets them.

Those events are the tree's first leaves, in their order, and still carry their chain hashes
(`prev_hash`, `hash`: portal/audit/chain.py). The chain is recomputed; it must end at the head
the first tree checkpoint signs in its `portal-chain-head <seq> <hex>` line, and the old signed
checkpoints (`audit_checkpoints`) must still verify and match it. No event recorded since may
carry a chain hash, and none recorded before may be found after one that does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.chain import GENESIS_HASH, checkpoint_message, link
from portal.audit.checkpoints import CHAIN_HEAD
from portal.audit.note import OpenedNote
from portal.audit.signing import PublicKey
from portal.audit.verify_report import CHANGED, REORDERED, REWRITTEN, TRUNCATED, Damage
from portal.models import AuditCheckpoint


class LegacyChain:
    """The old chain, recomputed one event at a time in the tree's order."""

    def __init__(self, session: Session) -> None:
        self.checkpoints = list(
            session.execute(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()
        )
        self.checkpoint_seqs = frozenset(row.seq for row in self.checkpoints)
        self.previous = GENESIS_HASH
        self.count = 0
        self.last_seq: int | None = None
        self._ended = False
        self._at_checkpoints: dict[int, bytes] = {}

    def feed(
        self,
        seq: int,
        encoding: bytes,
        prev_hash: bytes | None,
        chain_hash: bytes | None,
        position: int,
    ) -> Damage | None:
        """The next leaf's event; damage if its chain hashes do not follow."""
        if prev_hash is None and chain_hash is None:
            self._ended = True
            return None
        if self._ended:
            return Damage(
                REORDERED,
                seq,
                f"Event {seq} carries a hash of the old chain but comes after events recorded "
                "without one: events recorded before the tree must be its first leaves.",
                position,
            )
        if prev_hash != self.previous:
            return Damage(
                CHANGED, seq, f"Event {seq}'s link to the event before it was altered.", position
            )
        if link(self.previous, hashlib.sha256(encoding).digest()) != chain_hash:
            return Damage(
                CHANGED, seq, f"Event {seq}'s chain hash no longer matches its fields.", position
            )
        self.previous, self.count, self.last_seq = chain_hash, self.count + 1, seq
        if seq in self.checkpoint_seqs:
            self._at_checkpoints[seq] = chain_hash
        return None

    def finish(self, first: OpenedNote | None, keys: Iterable[PublicKey]) -> list[Damage]:
        """After the walk: the chain's end against the first tree checkpoint, and the old
        checkpoints against their signatures and the recomputed chain."""
        found = self._check_old_checkpoints({key.key_id: key for key in keys})
        if first is not None:
            found.extend(self._check_anchor(first))
        return found

    def _check_anchor(self, first: OpenedNote) -> list[Damage]:
        signed = [line for line in first.body.extensions if line.startswith(f"{CHAIN_HEAD} ")]
        expected = [f"{CHAIN_HEAD} {self.last_seq} {self.previous.hex()}"] if self.count else []
        if signed == expected:
            return []
        ends = f"ends at event {self.last_seq}" if self.count else "is empty"
        claimed = signed[0].split(" ")[1] if signed else None
        said = f"its end as event {claimed}" if claimed else "no old chain"
        return [
            Damage(
                REWRITTEN,
                self.last_seq,
                f"The old hash chain {ends}, but the first tree checkpoint signed {said}: "
                "events recorded before the tree were rewritten or removed.",
                max(self.count - 1, 0),
            )
        ]

    def _check_old_checkpoints(self, keys: dict[str, PublicKey]) -> list[Damage]:
        found = []
        for row in self.checkpoints:
            key = keys.get(row.key_id)
            message = checkpoint_message(row.seq, row.head_hash, row.signed_at)
            position = max(row.seq - 1, 0)
            if key is None or not key.verifies(message, row.signature):
                found.append(_old(REWRITTEN, row.seq, "is not signed by a trusted key", position))
            elif row.seq not in self._at_checkpoints:
                found.append(
                    _old(TRUNCATED, row.seq, "names an event beyond the old chain", position)
                )
            elif self._at_checkpoints[row.seq] != row.head_hash:
                found.append(_old(REWRITTEN, row.seq, "no longer matches the chain", position))
        return found


def _old(kind: str, seq: int, why: str, position: int) -> Damage:
    return Damage(kind, seq, f"The old signed checkpoint at event {seq} {why}.", position)
