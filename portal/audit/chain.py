"""An audit event's canonical encoding, on its own so that an offline verifier needs nothing
else: sorted keys, no spaces, ASCII only. It is each event's leaf data in the Merkle tree log
(RFC 9162: leaf hash = SHA-256(0x00 || encoding); portal/audit/merkle.py).

It also keeps the hash chain that events recorded before migration 0013 carry, so that the old
chain still verifies against the head the first tree checkpoint signs:

    digest(n) = SHA-256(canonical JSON of event n's fields)
    hash(n)   = SHA-256(hash(n-1) || digest(n)),   hash(0) = 32 zero bytes
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = bytes(32)
# The fields of an event that its hash covers, in the canonical encoding's key order.
FIELDS = (
    "action",
    "actor_organisation_id",
    "actor_role",
    "actor_user_id",
    "case_reference",
    "client_address",
    "details",
    "object_id",
    "object_type",
    "occurred_at",
    "outcome",
    "request_id",
    "seq",
    "user_agent",
)


_FIELD_NAMES = frozenset(FIELDS)
# What json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True) builds on
# every call, built once: the verifier encodes every event of the trail.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_encoding(fields: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, ASCII only: the same bytes for the same fields everywhere."""
    if fields.keys() != _FIELD_NAMES:
        raise ValueError("an audit event's canonical encoding needs exactly its fields")
    return _ENCODER.encode(fields).encode("ascii")


def content_digest(fields: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical_encoding(fields)).digest()


def link(previous_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(previous_hash + digest).digest()


def timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def checkpoint_message(seq: int, head_hash: bytes, signed_at: datetime) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return f"portal-audit-checkpoint/1\n{seq}\n{head_hash.hex()}\n{timestamp(signed_at)}\n".encode(
        "ascii"
    )
