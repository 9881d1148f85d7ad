"""RFC 9162 §2.1's definitions of MTH, PATH and PROOF written literally, over the leaves' data:
slow, recursive and obviously the RFC's, for the Merkle tests to compare `portal.audit.merkle`
against. Hashes with hashlib directly, not the module's own functions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache

# The leaf inputs of the RFC 6962 test vectors (transparency-dev/merkle testonly/constants.go,
# LeafInputs), then more leaves of assorted lengths to reach 70.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
DATA = tuple(VECTOR_LEAVES + [bytes([i]) * (i % 7) + i.to_bytes(2, "big") for i in range(8, 70)])


def largest_power_of_two_below(n: int) -> int:
    """k < n <= 2k, for n > 1, counted up the slow way."""
    k = 1
    while 2 * k < n:
        k *= 2
    return k


@cache
def mth(d: tuple[bytes, ...]) -> bytes:
    """MTH(D[n]) (§2.1.1)."""
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = largest_power_of_two_below(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def proof(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    """PROOF(m, D[n]) (§2.1.4.1), for 0 < m < n; the empty list for m = 0 or m = n."""
    if m in (0, len(d)):
        return []
    return subproof(m, d, True)


def subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (§2.1.4.1)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def leaf_hashes(data: Sequence[bytes]) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + item).digest() for item in data]
