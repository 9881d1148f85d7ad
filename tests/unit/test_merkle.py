"""The audit log's Merkle tree (portal/audit/merkle.py) against the RFC 6962 test vectors and
against the RFC's own recursive definitions (tests/support/merkle_reference.py): every root,
every inclusion and consistency proof for trees of 1 to 70 leaves, each verified, and forged
ones refused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from portal.audit import merkle
from tests.support import merkle_reference as ref

LEAVES = ref.leaf_hashes(ref.DATA)
PERFECT = merkle.in_memory(LEAVES)
SIZES = range(1, len(LEAVES) + 1)


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


# transparency-dev/merkle testonly/constants.go (RootHashes, NodeHashes) and
# proof/verify_test.go (inclusionProofs, consistencyProofs), the RFC 6962 vectors that
# google/certificate-transparency first published, over the leaves in ref.VECTOR_LEAVES.
VECTOR_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
VECTOR_NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
N = VECTOR_NODES
# (leaf index, 0-based; the Go file counts from 1), tree size, proof.
VECTOR_INCLUSION = [
    (0, 1, []),
    (0, 8, [N[0][1], N[1][1], N[2][1]]),
    (5, 8, [N[0][4], N[1][3], N[2][0]]),
    (2, 3, [N[1][0]]),
    (1, 5, [N[0][0], N[1][1], N[0][4]]),
]
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [N[0][1], N[1][1], N[2][1]]),
    (6, 8, [N[1][2], N[1][3], N[2][0]]),
    (2, 5, [N[1][1], N[0][4]]),
    (6, 7, [N[1][2], N[0][6], N[2][0]]),
]


def test_the_hashes_are_the_rfcs() -> None:
    assert merkle.EMPTY_ROOT == VECTOR_ROOTS[0]
    assert [merkle.leaf_hash(d) for d in ref.VECTOR_LEAVES] == VECTOR_NODES[0]
    assert merkle.node_hash(N[0][0], N[0][1]) == N[1][0]


def test_the_vector_roots_and_perfect_subtrees() -> None:
    perfect = merkle.in_memory(VECTOR_NODES[0])
    assert [merkle.root(size, perfect) for size in range(9)] == VECTOR_ROOTS
    for level, row in enumerate(VECTOR_NODES):
        assert [perfect(level, index) for index in range(len(row))] == row


@pytest.mark.parametrize(("index", "size", "proof"), VECTOR_INCLUSION)
def test_the_vector_inclusion_proofs(index: int, size: int, proof: list[bytes]) -> None:
    perfect = merkle.in_memory(VECTOR_NODES[0])
    assert merkle.inclusion_proof(index, size, perfect) == proof
    assert merkle.verify_inclusion(index, size, N[0][index], proof, VECTOR_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), VECTOR_CONSISTENCY)
def test_the_vector_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    perfect = merkle.in_memory(VECTOR_NODES[0])
    assert merkle.consistency_proof(old, new, perfect) == proof
    assert merkle.verify_consistency(old, new, VECTOR_ROOTS[old], VECTOR_ROOTS[new], proof)


@pytest.mark.parametrize("size", SIZES)
def test_roots_and_inclusion_proofs_are_the_rfcs(size: int) -> None:
    data = ref.DATA[:size]
    tree_root = merkle.root(size, PERFECT)
    assert tree_root == ref.mth(data)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, PERFECT)
        assert proof == ref.path(index, data)
        assert merkle.verify_inclusion(index, size, LEAVES[index], proof, tree_root)
        for forged in _forged_inclusions(index, size, proof, tree_root):
            assert not merkle.verify_inclusion(*forged), forged


@pytest.mark.parametrize("new", SIZES)
def test_consistency_proofs_are_the_rfcs(new: int) -> None:
    new_root = ref.mth(ref.DATA[:new])
    for old in range(new + 1):
        old_root = ref.mth(ref.DATA[:old])
        proof = merkle.consistency_proof(old, new, PERFECT)
        assert proof == ref.proof(old, ref.DATA[:new])
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        for forged in _forged_consistencies(old, new, old_root, new_root, proof):
            assert not merkle.verify_consistency(*forged), forged


def _flip(value: bytes, bit: int = 3) -> bytes:
    return bytes([value[0] ^ (1 << bit)]) + value[1:]


def _altered(proof: Sequence[bytes], flip: Callable[[bytes], bytes]) -> list[list[bytes]]:
    """Each element flipped; one dropped from either end; one added at either end; two swapped."""
    proofs = [[*proof[:i], flip(p), *proof[i + 1 :]] for i, p in enumerate(proof)]
    extra = [bytes(32), merkle.EMPTY_ROOT, LEAVES[0], b""]
    proofs += [[*proof, e] for e in extra] + [[e, *proof] for e in extra]
    if proof:
        proofs += [list(proof[1:]), list(proof[:-1])]
    proofs += [
        [*proof[:i], proof[i + 1], proof[i], *proof[i + 2 :]]
        for i in range(len(proof) - 1)
        if proof[i] != proof[i + 1]
    ]
    return proofs


def _forged_inclusions(
    index: int, size: int, proof: list[bytes], tree_root: bytes
) -> list[tuple[int, int, bytes, list[bytes], bytes]]:
    leaf = LEAVES[index]
    forged = [(index, size, leaf, p, tree_root) for p in _altered(proof, _flip)]
    forged += [(i, size, leaf, proof, tree_root) for i in {index - 1, index + 1, index ^ 2}]
    forged += [(index, size, _flip(leaf), proof, tree_root), (index, size, leaf, proof, b"")]
    forged.append((index, size, leaf, proof, _flip(tree_root)))
    if leaf != tree_root:
        forged.append((index, size, tree_root, proof, leaf))
    forged += [
        (index, other, leaf, proof, tree_root)
        for other in {size - 1, size + 1, size * 2, size // 2, 0}
        if other <= index or len(ref.path(index, BLANK * other)) != len(proof)
    ]
    return forged


def _forged_consistencies(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> list[tuple[int, int, bytes, bytes, list[bytes]]]:
    forged = [(old, new, old_root, new_root, p) for p in _altered(proof, _flip_bit_4)]
    forged += [(old, new, _flip(old_root), new_root, proof), (old, new, old_root, b"", proof)]
    if old:  # every tree extends the empty one, whatever its root
        forged.append((old, new, old_root, _flip(new_root), proof))
    if old_root != new_root:
        forged.append((old, new, new_root, old_root, proof))
    forged += [
        (other, new, old_root, new_root, proof)
        for other in {old - 1, old + 1, old ^ 2, new + 1}
        if other != old and _consistency_shape_differs(other, new, proof)
    ]
    forged += [
        (old, other, old_root, new_root, proof)
        for other in {new - 1, new + 1, new * 2, new // 2}
        if other != new and old and _consistency_shape_differs(old, other, proof)
    ]
    return forged


def _flip_bit_4(value: bytes) -> bytes:
    return _flip(value, 4)


# A tree of another size whose proof has the same shape computes the same roots from the same
# hashes: a verifier takes the sizes from the signed tree heads, which bind them. The forgeries
# with other sizes are those the sizes alone rule out: out of range, or a proof of another length
# (the proofs' lengths depend on the sizes only, so a tuple of empty leaves gives them).
BLANK = (b"",)


def _consistency_shape_differs(old: int, new: int, proof: list[bytes]) -> bool:
    if not 0 < old <= new:
        return True  # out of range, or the empty tree, whose root is known
    return len(ref.proof(old, BLANK * new)) != len(proof)


ROOT_3 = VECTOR_ROOTS[3]
ROOT_8 = VECTOR_ROOTS[8]
LEAF_0 = N[0][0]
PROOF_0_8 = VECTOR_INCLUSION[1][2]
PROOF_1_8 = VECTOR_CONSISTENCY[1][2]
EMPTY = merkle.EMPTY_ROOT


@pytest.mark.parametrize(
    "arguments",
    [
        (8, 8, LEAF_0, PROOF_0_8, ROOT_8),  # index == size
        (9, 8, LEAF_0, PROOF_0_8, ROOT_8),
        (-1, 8, LEAF_0, PROOF_0_8, ROOT_8),
        (0, -8, LEAF_0, PROOF_0_8, ROOT_8),
        (0, 0, LEAF_0, [], EMPTY),
        (0, 0, EMPTY, [], EMPTY),
        (0.0, 8, LEAF_0, PROOF_0_8, ROOT_8),
        (False, 8, LEAF_0, PROOF_0_8, ROOT_8),
        (0, 8, LEAF_0[:31], PROOF_0_8, ROOT_8),
        (0, 8, LEAF_0, PROOF_0_8, ROOT_8 + b"\x00"),
        (0, 8, LEAF_0, [*PROOF_0_8[:2], PROOF_0_8[2][:31]], ROOT_8),
        (0, 8, LEAF_0, [*PROOF_0_8[:2], PROOF_0_8[2].hex()], ROOT_8),
        (0, 8, LEAF_0, [*PROOF_0_8[:2], None], ROOT_8),
        (0, 8, LEAF_0.hex(), PROOF_0_8, ROOT_8),
        (0, 8, LEAF_0, PROOF_0_8, None),
        (0, 8, LEAF_0, None, ROOT_8),
        (0, 2**64 + 8, LEAF_0, PROOF_0_8, ROOT_8),
        (0, 8, LEAF_0, PROOF_0_8 * 1000, ROOT_8),
    ],
)
def test_malformed_inclusion_claims_are_refused_without_error(arguments: tuple[Any, ...]) -> None:
    assert merkle.verify_inclusion(*arguments) is False


@pytest.mark.parametrize(
    "arguments",
    [
        (8, 1, ROOT_8, N[0][0], []),  # old > new
        (-1, 8, EMPTY, ROOT_8, []),
        (1, -8, N[0][0], ROOT_8, PROOF_1_8),
        (0, 8, EMPTY, ROOT_8, [ROOT_8]),  # the empty tree needs no proof
        (0, 8, ROOT_3, ROOT_8, []),  # and has one root
        (0, 0, EMPTY, ROOT_8, []),
        (8, 8, ROOT_8, ROOT_8, [ROOT_8]),  # a tree needs no proof of itself
        (8, 8, ROOT_3, ROOT_8, []),
        (1, 8, N[0][0], ROOT_8, []),  # a proper prefix needs a proof
        (1, 8, N[0][0], ROOT_8, [*PROOF_1_8[:2], PROOF_1_8[2][:31]]),
        (1, 8, N[0][0], ROOT_8, [*PROOF_1_8[:2], None]),
        (1, 8, N[0][0][:31], ROOT_8, PROOF_1_8),
        (1, 8, N[0][0], ROOT_8.hex(), PROOF_1_8),
        (1, 8, N[0][0], ROOT_8, None),
        (1.0, 8, N[0][0], ROOT_8, PROOF_1_8),
        (True, 8, N[0][0], ROOT_8, PROOF_1_8),
        (1, 8, N[0][0], ROOT_8, PROOF_1_8 * 1000),
    ],
)
def test_malformed_consistency_claims_are_refused_without_error(arguments: tuple[Any, ...]) -> None:
    assert merkle.verify_consistency(*arguments) is False


def test_the_trivial_claims_hold() -> None:
    assert merkle.verify_inclusion(0, 1, LEAF_0, [], LEAF_0)
    assert merkle.verify_consistency(0, 0, EMPTY, EMPTY, [])
    assert merkle.verify_consistency(0, 8, EMPTY, ROOT_8, [])
    assert merkle.verify_consistency(8, 8, ROOT_8, ROOT_8, [])
    # The same claims with any sequence type, as a JSON export would give them.
    assert merkle.verify_inclusion(0, 8, LEAF_0, tuple(PROOF_0_8), ROOT_8)
    assert merkle.verify_consistency(1, 8, LEAF_0, ROOT_8, tuple(PROOF_1_8))


def test_proofs_of_what_is_not_in_the_tree_are_not_made() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(8, 8, PERFECT)
    with pytest.raises(ValueError, match="not in a tree"):
        merkle.inclusion_proof(-1, 8, PERFECT)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(9, 8, PERFECT)
    with pytest.raises(ValueError, match="no consistency proof"):
        merkle.consistency_proof(-1, 8, PERFECT)
    with pytest.raises(ValueError, match="cannot have"):
        merkle.root(-1, PERFECT)


@pytest.mark.parametrize(("start", "end"), [(0, 0), (5, 4), (-1, 3), (1, 4), (2, 7), (4, 13)])
def test_subtree_hash_refuses_ranges_the_rfc_never_splits_into(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="range"):
        merkle.subtree_hash(start, end, PERFECT)


def test_subtree_hash_is_the_mth_of_its_range() -> None:
    for start, end in [(8, 13), (2, 6), (4, 7), (6, 7), (0, 70), (64, 70), (32, 65), (16, 48)]:
        assert merkle.subtree_hash(start, end, PERFECT) == ref.mth(ref.DATA[start:end])


def _counting(limit: int) -> tuple[merkle.PerfectHash, list[tuple[int, int]]]:
    """A store of perfect subtrees for a tree of `limit` leaves that only counts its reads."""
    reads: list[tuple[int, int]] = []

    def perfect(level: int, index: int) -> bytes:
        assert (index + 1) << level <= limit
        reads.append((level, index))
        return (level * 2**40 + index).to_bytes(32, "big")

    return perfect, reads


@pytest.mark.parametrize("size", [2**40 - 1, 2**40, 2**40 + 1, 10**12 + 12345, 3 * 2**38 + 7])
def test_proofs_read_a_logarithmic_number_of_subtrees(size: int) -> None:
    bound = 2 * size.bit_length() + 2
    perfect, reads = _counting(size)
    merkle.root(size, perfect)
    assert len(reads) == size.bit_count()
    for index in (0, 1, size // 3, size - 2, size - 1):
        reads.clear()
        assert len(merkle.inclusion_proof(index, size, perfect)) <= size.bit_length()
        assert len(reads) <= bound
    for old in (1, 2, 7, size // 3, size - 1):
        reads.clear()
        assert len(merkle.consistency_proof(old, size, perfect)) <= size.bit_length() + 1
        assert len(reads) <= bound
