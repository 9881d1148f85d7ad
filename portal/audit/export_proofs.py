"""Inclusion proofs for a batch of an export's events, read from the stored tree in a few
queries, not one per hash.

A proof in a tree of n leaves is about log2(n) hashes, and the proofs of neighbouring events
share most of theirs. For each batch the hashes its proofs need are named first (the positions
do not depend on the hashes), read in chunks of a few hundred (`audit_leaves` and
`audit_tree_nodes`), and forgotten after the batch: memory stays bounded by the batch, whatever
the export's size. Each proof is checked against the signed root before it is written, from the
event's own fields, so an export never carries a proof that fails: a stored event or node
altered since the head was signed stops the export (ProofFailed) rather than handing out
evidence that does not verify.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.tree_store import MissingNode
from portal.models import AuditLeaf, AuditTreeNode

CHUNK = 400
_PLACEHOLDER = bytes(merkle.HASH_SIZE)
_T = TypeVar("_T")


class ProofFailed(Exception):
    """The database's event or tree does not match the signed head: the trail was altered."""


class ProofMaker:
    """Inclusion proofs in the tree of `size` leaves whose signed root is `root`."""

    def __init__(self, session: Session, size: int, root: bytes) -> None:
        self._session, self.size, self.root = session, size, root

    def proofs(self, leaves: Sequence[tuple[int, int, bytes]]) -> list[list[bytes]]:
        """The proof of each (event number, leaf index, leaf hash recomputed from the event),
        in order, each checked against the root."""
        wanted: set[tuple[int, int]] = set()

        def note(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return _PLACEHOLDER

        for _seq, index, _leaf in leaves:
            merkle.inclusion_proof(index, self.size, note)
        known = self._read(wanted)
        made = []
        for seq, index, leaf in leaves:
            proof = merkle.inclusion_proof(index, self.size, lambda lv, ix: known[(lv, ix)])
            if not merkle.verify_inclusion(index, self.size, leaf, proof, self.root):
                raise ProofFailed(
                    f"Event {seq} (leaf {index}) does not match the signed tree head of "
                    f"{self.size} events: the trail was altered. Check it (portal audit verify)."
                )
            made.append(proof)
        return made

    def _read(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        positions = sorted(wanted)
        found = self._leaves([index for level, index in positions if level == 0])
        found.update(self._nodes([position for position in positions if position[0] > 0]))
        missing = [position for position in positions if position not in found]
        if missing:
            level, index = missing[0]
            raise MissingNode(f"the tree's subtree at level {level}, index {index} is missing")
        return found

    def _leaves(self, indexes: list[int]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for part in _chunks(indexes):
            rows = self._session.execute(
                sa.select(AuditLeaf.leaf_index, AuditLeaf.hash).where(
                    AuditLeaf.leaf_index.in_(part)
                )
            )
            found.update(((0, index), value) for index, value in rows)
        return found

    def _nodes(self, positions: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for part in _chunks(positions):
            rows = self._session.execute(
                sa.select(AuditTreeNode.level, AuditTreeNode.index, AuditTreeNode.hash).where(
                    sa.tuple_(AuditTreeNode.level, AuditTreeNode.index).in_(part)
                )
            )
            found.update(((level, index), value) for level, index, value in rows)
        return found


def _chunks(items: list[_T]) -> Iterable[list[_T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
