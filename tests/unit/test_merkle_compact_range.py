"""The right edge of the audit log's tree (portal/audit/merkle.py CompactRange), what the
sequencer appends with and the verifier rebuilds with: its roots are the RFC's at every size,
the subtrees it reports completed are the tree's perfect subtrees, each once, and a range resumed
from a stored frontier carries on as if it had never stopped. Then proofs over larger trees, at
random sizes, against roots the compact range computes."""

from __future__ import annotations

import random

import pytest

from portal.audit import merkle
from tests.support import merkle_reference as ref

LEAVES = ref.leaf_hashes(ref.DATA)
PERFECT = merkle.in_memory(LEAVES)


def test_the_roots_are_the_rfcs_at_every_size() -> None:
    tree = merkle.CompactRange()
    assert (tree.size, tree.frontier, tree.root()) == (0, (), merkle.EMPTY_ROOT)
    for size, leaf in enumerate(LEAVES, start=1):
        tree.append(leaf)
        assert tree.size == size
        assert tree.root() == ref.mth(ref.DATA[:size])


def test_the_completed_subtrees_are_the_perfect_subtrees_each_once() -> None:
    tree = merkle.CompactRange()
    completed: list[tuple[int, int, bytes]] = []
    for leaf in LEAVES:
        completed += tree.append(leaf)
    expected = [
        (level, index, ref.mth(ref.DATA[index << level : (index + 1) << level]))
        for level in range(1, len(LEAVES).bit_length())
        for index in range(len(LEAVES) >> level)
    ]
    assert sorted(completed) == sorted(expected)
    assert len(completed) == len(expected) == len(LEAVES) - len(LEAVES).bit_count()


def test_an_append_reports_the_subtrees_it_completed_smallest_first() -> None:
    tree = merkle.CompactRange()
    tree.append_many(LEAVES[:7])
    assert tree.append(LEAVES[7]) == [
        (1, 3, PERFECT(1, 3)),
        (2, 1, PERFECT(2, 1)),
        (3, 0, PERFECT(3, 0)),
    ]
    assert tree.append(LEAVES[8]) == []


@pytest.mark.parametrize("size", range(len(LEAVES) + 1))
def test_the_frontier_is_the_perfect_subtrees_on_the_right_edge(size: int) -> None:
    tree = merkle.CompactRange()
    tree.append_many(LEAVES[:size])
    positions = merkle.frontier_positions(size)
    assert tree.frontier == tuple(PERFECT(level, index) for level, index in positions)
    covered = [(index << level, (index + 1) << level) for level, index in positions]
    edges = [0] + [end for _, end in covered]
    assert [start for start, _ in covered] == edges[:-1]  # side by side from leaf 0
    assert edges[-1] == size
    assert [level for level, _ in positions] == sorted({level for level, _ in positions})[::-1]


@pytest.mark.parametrize("size", range(len(LEAVES) + 1))
def test_a_range_resumed_from_its_frontier_carries_on_alike(size: int) -> None:
    whole = merkle.CompactRange()
    whole.append_many(LEAVES[:size])
    resumed = merkle.CompactRange(size, whole.frontier)
    assert resumed.root() == whole.root()
    for leaf in LEAVES[size:]:
        assert resumed.append(leaf) == whole.append(leaf)
        assert resumed.root() == whole.root()
    assert resumed.frontier == whole.frontier


def test_append_many_is_append_without_the_report() -> None:
    one_by_one = merkle.CompactRange()
    for leaf in LEAVES:
        one_by_one.append(leaf)
    at_once = merkle.CompactRange()
    at_once.append_many(LEAVES[:5])
    at_once.append_many(iter(LEAVES[5:]))
    assert (at_once.size, at_once.frontier) == (one_by_one.size, one_by_one.frontier)


@pytest.mark.parametrize(
    ("size", "hashes"),
    [
        (3, [LEAVES[0]]),  # 3 leaves have 2 frontier subtrees
        (4, [LEAVES[0], LEAVES[1]]),
        (0, [LEAVES[0]]),
        (-1, []),
        (1, [LEAVES[0][:31]]),
        (1, [LEAVES[0].hex()]),
    ],
)
def test_a_frontier_of_the_wrong_shape_is_refused(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(ValueError, match="frontier"):
        merkle.CompactRange(size, hashes)


def test_a_leaf_that_is_not_a_hash_is_refused_and_changes_nothing() -> None:
    tree = merkle.CompactRange()
    tree.append_many(LEAVES[:3])
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(ref.DATA[7])
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append_many([LEAVES[3], ref.DATA[7], LEAVES[4]])
    assert tree.size == 4
    assert tree.root() == ref.mth(ref.DATA[:4])


@pytest.mark.parametrize("seed", range(4))
def test_proofs_in_larger_trees_verify_against_the_compact_ranges_roots(seed: int) -> None:
    chance = random.Random(seed)
    size = chance.randrange(1000, 5000)
    leaves = [chance.randbytes(32) for _ in range(size)]
    perfect = merkle.in_memory(leaves)
    tree = merkle.CompactRange()
    roots = [tree.root()]
    for leaf in leaves:
        tree.append(leaf)
        roots.append(tree.root())
    for _ in range(200):
        new = chance.randrange(1, size + 1)
        old = chance.randrange(0, new + 1)
        index = chance.randrange(new)
        assert merkle.root(new, perfect) == roots[new]
        proof = merkle.inclusion_proof(index, new, perfect)
        assert merkle.verify_inclusion(index, new, leaves[index], proof, roots[new])
        assert not merkle.verify_inclusion(index, new, leaves[index], proof, roots[new - 1])
        proof = merkle.consistency_proof(old, new, perfect)
        assert merkle.verify_consistency(old, new, roots[old], roots[new], proof)
        if 0 < old < new:
            assert not merkle.verify_consistency(old, new, roots[old - 1], roots[new], proof)
