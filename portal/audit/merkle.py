"""The audit log's Merkle tree (RFC 9162 §2.1), on its own so that an offline verifier needs
nothing else: no database, no web framework, only SHA-256.

Hashes (a leaf's data is its event's canonical encoding, `portal.audit.chain`):

    leaf hash   = SHA-256(0x00 || data)
    node hash   = SHA-256(0x01 || left || right)
    empty root  = SHA-256("")

The distinct prefixes keep a leaf from ever passing for a node. For n > 1 leaves D[0:n] and k
the largest power of two smaller than n:

    MTH(D[0:1]) = leaf hash of D[0]
    MTH(D[0:n]) = node hash(MTH(D[0:k]), MTH(D[k:n]))

A perfect subtree (level, index) covers leaves [index * 2^level, (index + 1) * 2^level); level
0 is a leaf hash. A tree of size n is the fold, from the right, of its frontier: one perfect
subtree for each bit set in n, largest (leftmost) first. With n = 6 the frontier is (2, 0) and
(1, 2), and the root is node hash((2, 0), (1, 2)).

Inclusion proof of leaf m in D[0:n] (RFC 9162 §2.1.3.1), deepest sibling first:

    PATH(m, D[0:1]) = []
    PATH(m, D[0:n]) = PATH(m, D[0:k]) + [MTH(D[k:n])]        if m < k
                    = PATH(m - k, D[k:n]) + [MTH(D[0:k])]    if m >= k

Consistency proof of an old size m against a new size n, 0 < m < n (§2.1.4.1):

    PROOF(m, D[0:n])         = SUBPROOF(m, D[0:n], true)
    SUBPROOF(m, D[0:m], b)   = [] if b else [MTH(D[0:m])]
    SUBPROOF(m, D[0:n], b)   = SUBPROOF(m, D[0:k], b) + [MTH(D[k:n])]            if m <= k
                             = SUBPROOF(m - k, D[k:n], false) + [MTH(D[0:k])]    if m > k

The proofs are checked with the RFC's algorithms (§2.1.3.2, §2.1.4.2), written out below. Every
hash a proof needs is a perfect subtree but at most one, the right-hand part of a tree whose size
is not a power of two; `subtree_hash` builds that from perfect subtrees, so a store that keeps
every completed perfect subtree (`CompactRange.append` names them) answers any proof in
O(log n) reads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"

# (level, index) -> the hash of the perfect subtree over [index * 2**level, (index+1) * 2**level).
PerfectHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: its data behind the 0x00 prefix."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: its children's hashes behind the 0x01 prefix."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(length: int) -> int:
    """The largest power of two smaller than `length` (> 1): where the RFC splits a tree."""
    return 1 << ((length - 1).bit_length() - 1)


def subtree_hash(start: int, end: int, perfect: PerfectHash) -> bytes:
    """MTH(D[start:end]), built from at most log2(end - start) + 1 perfect subtrees.

    The range must be one the RFC's recursion produces: `start` a multiple of the largest power
    of two smaller than `end - start`, as every range MTH, PATH and PROOF split the tree of the
    first n leaves into is. Anything else is a caller's mistake: ValueError.
    """
    if not 0 <= start < end:
        raise ValueError(f"not a range of leaves: [{start}, {end})")
    lefts: list[bytes] = []
    while True:
        length = end - start
        if length & (length - 1) == 0 and start % length == 0:
            level = length.bit_length() - 1
            right = perfect(level, start >> level)
            break
        k = _split(length)
        if start % k:
            raise ValueError(f"[{start}, {end}) is not a range of the tree's recursion")
        level = k.bit_length() - 1
        lefts.append(perfect(level, start >> level))
        start += k
    for left in reversed(lefts):
        right = node_hash(left, right)
    return right


def root(size: int, perfect: PerfectHash) -> bytes:
    """The root hash of the tree of the first `size` leaves."""
    if size < 0:
        raise ValueError(f"a tree cannot have {size} leaves")
    return subtree_hash(0, size, perfect) if size else EMPTY_ROOT


def inclusion_proof(index: int, size: int, perfect: PerfectHash) -> list[bytes]:
    """PATH(index, D[0:size]): the hashes that lead leaf `index` up to the root, deepest first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []  # root first, reversed at the end
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(start + k, end, perfect))
            end = start + k
        else:
            path.append(subtree_hash(start, start + k, perfect))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, perfect: PerfectHash) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]); empty when either tree holds all the other (0 or equal)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} leaves to {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []  # root first, reversed at the end
    start, end, whole = 0, new_size, True
    while old_size != end - start:
        k = _split(end - start)
        if old_size <= k:
            proof.append(subtree_hash(start + k, end, perfect))
            end = start + k
        else:
            proof.append(subtree_hash(start, start + k, perfect))
            old_size -= k
            start += k
            whole = False
    if not whole:
        proof.append(subtree_hash(start, end, perfect))
    proof.reverse()
    return proof


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_path(values: object, size: int) -> bool:
    """A sequence of hashes no longer than any proof in a tree of `size` leaves can be."""
    if not isinstance(values, Sequence) or isinstance(values, (str, bytes, bytearray)):
        return False
    return len(values) <= size.bit_length() + 1 and all(_is_hash(value) for value in values)


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows leaf hash `leaf` at `index` in the tree of `size` with `root`
    (RFC 9162 §2.1.3.2). Any malformed input is simply not a proof: False, never an error."""
    if not (_is_size(index) and _is_size(size) and index < size):
        return False
    if not (_is_hash(leaf) and _is_hash(root) and _is_path(proof, size)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree of `old_size` with `old_root` to be the first leaves of the
    tree of `new_size` with `new_root` (RFC 9162 §2.1.4.2). The empty tree is a prefix of every
    tree, but its root must still be the empty root. Malformed input: False, never an error."""
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and _is_path(proof, new_size)):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    return _consistency_path_holds(old_size, new_size, old_root, new_root, proof)


def _consistency_path_holds(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Steps 2 to 7 of §2.1.4.2, for well-formed input with 0 < old_size < new_size."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The (level, index) of each perfect subtree on the right edge of a tree of `size` leaves:
    one per bit set in `size`, largest (leftmost) first."""
    if size < 0:
        raise ValueError(f"a tree cannot have {size} leaves")
    return [
        (level, (size >> level) - 1)
        for level in reversed(range(size.bit_length()))
        if size >> level & 1
    ]


class CompactRange:
    """The right edge of a tree (its perfect subtrees, largest first): append leaves one at a time
    in O(1) amortised hashing, get the root at any moment, and learn which perfect subtrees
    (level >= 1) each append completed, so a store can keep them.

    Leaves are appended as leaf hashes (`leaf_hash(data)`), which is what a store keeps.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Resume from a frontier: `hashes` are the perfect subtrees `frontier_positions(size)`
        names, in that order. Whether they are the right ones is for the caller to check (its
        root against a signed one): a frontier carries no proof of itself."""
        if not _is_size(size) or len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier hashes")
        if not all(_is_hash(value) for value in hashes):
            raise ValueError("each frontier hash is 32 bytes")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect subtrees (level, index, hash), level >= 1, that
        it completed, smallest first. Leaf `size` completes one per trailing one bit of `size`."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        sha256 = hashlib.sha256
        hashes = self._hashes
        size = self._size
        completed: list[tuple[int, int, bytes]] = []
        level = 0
        while size >> level & 1:
            level += 1
            leaf = sha256(_NODE + hashes.pop() + leaf).digest()
            completed.append((level, size >> level, leaf))
        hashes.append(leaf)
        self._size = size + 1
        return completed

    def append_many(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes without reporting completed subtrees: the verifier's fast path."""
        sha256 = hashlib.sha256
        hashes = self._hashes
        pop = hashes.pop
        push = hashes.append
        node = _NODE
        size = self._size
        try:
            for leaf in leaves:
                if len(leaf) != HASH_SIZE:
                    raise ValueError("a leaf hash is 32 bytes")
                carry = size
                while carry & 1:
                    leaf = sha256(node + pop() + leaf).digest()
                    carry >>= 1
                push(leaf)
                size += 1
        finally:
            self._size = size

    def root(self) -> bytes:
        """The root hash of the tree so far: its frontier folded from the right."""
        if not self._hashes:
            return EMPTY_ROOT
        hashes = self._hashes
        result = hashes[-1]
        for left in reversed(hashes[:-1]):
            result = node_hash(left, result)
        return result


def in_memory(leaves: Sequence[bytes]) -> PerfectHash:
    """The perfect subtrees of a list of leaf hashes, each computed once when first asked for:
    for tests and small exports, where the whole tree fits in memory."""
    cache: dict[tuple[int, int], bytes] = {}

    def perfect(level: int, index: int) -> bytes:
        if level < 0 or index < 0 or (index + 1) << level > len(leaves):
            raise IndexError(f"no perfect subtree ({level}, {index}) in {len(leaves)} leaves")
        if level == 0:
            return leaves[index]
        known = cache.get((level, index))
        if known is None:
            known = node_hash(perfect(level - 1, 2 * index), perfect(level - 1, 2 * index + 1))
            cache[(level, index)] = known
        return known

    return perfect
