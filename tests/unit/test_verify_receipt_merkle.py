"""scripts/verify-receipt.py carries its own RFC 9162 proof checks, so that a receipt's proof
can be checked with no portal code. Here they agree with portal/audit/merkle.py (itself tested
against the RFC's vectors) on every proof of every tree up to 33 leaves, and both refuse the
same forgeries."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from portal.audit import merkle

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify-receipt.py"
SIZES = range(1, 34)


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_receipt", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leaves(size: int) -> list[bytes]:
    return [merkle.leaf_hash(f"event {n}".encode()) for n in range(size)]


def flipped(path: list[bytes], at: int) -> list[bytes]:
    changed = bytearray(path[at])
    changed[-1] ^= 0x80
    return [*path[:at], bytes(changed), *path[at + 1 :]]


def test_the_hashes_are_rfc_9162s(script: ModuleType) -> None:
    assert script.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest() == merkle.leaf_hash(b"x")
    assert script.node_hash(b"a", b"b") == merkle.node_hash(b"a", b"b")


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_agrees_with_the_portals_tree(script: ModuleType, size: int) -> None:
    tree = merkle.in_memory(leaves(size))
    root = merkle.root(size, tree)
    for index in range(size):
        leaf = tree(0, index)
        path = merkle.inclusion_proof(index, size, tree)
        assert script.verify_inclusion(index, size, leaf, path, root)
        forgeries = [
            (index, size, leaf, [*path, root], root),
            (index, size, merkle.leaf_hash(b"another"), path, root),
            *((index, size, leaf, flipped(path, at), root) for at in range(len(path))),
        ]
        if path:
            forgeries.append((index, size, leaf, path[:-1], root))
        if size > 1:
            forgeries.append(((index + 1) % size, size, leaf, path, root))
        for forged in forgeries:
            assert not script.verify_inclusion(*forged), (index, size, forged)
            assert not merkle.verify_inclusion(*forged), (index, size, forged)
        # Another size with the same path can fold to the same root (the tree's left part is
        # the same): the checkpoint's signature and consistency catch that; here both agree.
        for other in (size - 1, size + 1):
            claimed = (index, other, leaf, path, root)
            assert script.verify_inclusion(*claimed) == merkle.verify_inclusion(*claimed)


@pytest.mark.parametrize("new", SIZES)
def test_consistency_agrees_with_the_portals_tree(script: ModuleType, new: int) -> None:
    tree = merkle.in_memory(leaves(new))
    new_root = merkle.root(new, tree)
    for old in range(1, new + 1):
        old_root = merkle.root(old, tree)
        path = merkle.consistency_proof(old, new, tree)
        assert script.verify_consistency(old, new, old_root, new_root, path)
        other = merkle.leaf_hash(b"rewritten")
        forgeries = [
            (old, new, other, new_root, path),
            (old, new, old_root, other, path),
            (old, new, old_root, new_root, [*path, other]),
            (new, old, new_root, old_root, path) if old != new else (old, new, old_root, other, []),
            *((old, new, old_root, new_root, flipped(path, at)) for at in range(len(path))),
        ]
        for forged in forgeries:
            assert not script.verify_consistency(*forged), (old, new, forged)
            assert not merkle.verify_consistency(*forged), (old, new, forged)


def test_a_rewritten_history_is_not_consistent(script: ModuleType) -> None:
    """The log of 7 entries, and a log of 12 whose third entry was changed: no proof made from
    the rewritten tree links them."""
    honest = leaves(12)
    rewritten = [*honest[:2], merkle.leaf_hash(b"changed"), *honest[3:]]
    old_root = merkle.root(7, merkle.in_memory(honest))
    forged_tree = merkle.in_memory(rewritten)
    path = merkle.consistency_proof(7, 12, forged_tree)
    assert not script.verify_consistency(7, 12, old_root, merkle.root(12, forged_tree), path)
