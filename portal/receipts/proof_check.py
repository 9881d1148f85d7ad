"""Checking a receipt's proof that it is in the council's audit log (format
`portal-receipt-proof/1`, docs/receipts.md): the receipt itself (portal/receipts/check.py), the
log entry it carries (it must be this receipt's, and hold no more than the receipt says), the
entry's inclusion in a checkpoint signed with the council's key, that checkpoint's RFC 3161
time-stamp, and its consistency with the newest witnessed checkpoint, made here from the
council's own tree. Nothing is looked up by the receipt's reference.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from portal.audit import merkle
from portal.audit.chain import FIELDS, canonical_encoding
from portal.audit.note import NoteError, OpenedNote, open_note
from portal.audit.proofs import consistency_hashes, latest_witnessed_head
from portal.audit.signing import PublicKey
from portal.audit.tree_store import MissingNode
from portal.audit.witness import TimestampInvalid, check_timestamp
from portal.receipts.check import NotAReceipt, Receipt, parse_receipt

FORMAT = "portal-receipt-proof/1"
# A proof has one hash per level of the tree: 64 covers any tree a 64-bit size can name.
_MOST_HASHES = 64
# When a TSA saw these bytes (token, data), or None when the token does not verify.
StampCheck = Callable[[bytes, bytes], datetime | None]
_DAMAGED = "This proof file is damaged: these parts are missing or not as the portal writes them"


@dataclass(frozen=True)
class ProofBundle:
    receipt: Receipt
    leaf_index: int
    leaf_data: bytes
    checkpoint: str
    inclusion_proof: list[bytes]
    timestamp: bytes | None


@dataclass(frozen=True)
class LogVerdict:
    """What the proof shows about the log, or the first thing that failed (`problem`)."""

    leaf_index: int
    problem: str | None = None
    size: int | None = None  # the checkpoint's tree size, once its signature held
    key_id: str | None = None
    stamped_at: datetime | None = None  # the TSA's time for the checkpoint
    latest_size: int | None = None  # the newest witnessed checkpoint it is consistent with


def is_bundle(data: bytes) -> bool:
    """Whether an upload is a proof bundle rather than a bare receipt (or a PDF)."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT


def parse_bundle(data: bytes) -> ProofBundle:
    """The bundle's parts, each as the portal writes it (NotAReceipt says which are not)."""
    if not is_bundle(data):
        raise NotAReceipt("This file is not a receipt with its proof.")
    document = json.loads(data.decode("utf-8-sig"))
    receipt = document.get("receipt")
    if not isinstance(receipt, dict):
        raise NotAReceipt("This proof file carries no receipt.")
    parsed = parse_receipt(json.dumps(receipt).encode())
    problems: list[str] = []
    leaf_index = document.get("leaf_index")
    if not isinstance(leaf_index, int) or isinstance(leaf_index, bool) or leaf_index < 0:
        problems.append("leaf_index")
    leaf_data = _base64(document.get("leaf_data"), problems, "leaf_data")
    checkpoint = document.get("checkpoint")
    if not isinstance(checkpoint, str) or len(checkpoint) > 64 * 1024:
        problems.append("checkpoint")
    proof = _hashes(document.get("inclusion_proof"), problems)
    stamp = document.get("checkpoint_timestamp")
    token = None if stamp is None else _base64(stamp, problems, "checkpoint_timestamp")
    if problems:
        raise NotAReceipt(f"{_DAMAGED}: {', '.join(sorted(problems))}.")
    assert isinstance(leaf_index, int) and isinstance(checkpoint, str)  # noqa: S101
    assert leaf_data is not None  # noqa: S101
    return ProofBundle(parsed, leaf_index, leaf_data, checkpoint, proof, token)


def _base64(value: object, problems: list[str], name: str) -> bytes | None:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            pass
    problems.append(name)
    return None


def _hashes(value: object, problems: list[str]) -> list[bytes]:
    if not isinstance(value, list) or len(value) > _MOST_HASHES:
        problems.append("inclusion_proof")
        return []
    hashes = [_base64(item, [], "") for item in value]
    if any(h is None or len(h) != 32 for h in hashes):
        problems.append("inclusion_proof")
        return []
    return [h for h in hashes if h is not None]


def stamp_check(roots_file: Path | None) -> StampCheck | None:
    """How a checkpoint's RFC 3161 token is checked: against the council's TSA's trust root
    (`[audit] tsa_certificate_file`), for its time; None where none is configured (the page
    then gives no time)."""
    if roots_file is None:
        return None
    roots = roots_file.read_bytes()

    def stamped(token: bytes, data: bytes) -> datetime | None:
        try:
            return check_timestamp(token, data, roots)
        except TimestampInvalid:
            return None

    return stamped


def leaf_problem(bundle: ProofBundle) -> str | None:
    """Why the log entry is not this receipt's (None when it is): the council's
    `receipt_logged` event for this request, version and digest, by the organisation the
    receipt names, with no case reference, written exactly as the log encodes it."""
    try:
        fields = json.loads(bundle.leaf_data.decode("ascii"))
        exact = isinstance(fields, dict) and canonical_encoding(fields) == bundle.leaf_data
    except (ValueError, TypeError, RecursionError):
        exact = False
    if not exact or set(fields) != set(FIELDS):
        return "The log entry in this file is not one the council’s log writes."
    receipt = bundle.receipt
    said = {
        "request": receipt.request,
        "version": receipt.version,
        "receipt_sha256": receipt.sha256,
    }
    ours = (
        fields["action"] == "receipt_logged"
        and fields["object_type"] == "contribution"
        and fields["case_reference"] is None
        and fields["details"] == said
        and (receipt.sender is None or fields["actor_organisation_id"] == receipt.sender.id)
    )
    if not ours:
        return "The log entry in this file is not this receipt’s: it records something else."
    return None


def _open(note: str, keys: tuple[PublicKey, ...]) -> OpenedNote | None:
    name = note.split("\n", 1)[0]
    try:
        return open_note(note, [(name, key) for key in keys])
    except (NoteError, ValueError):
        return None


def check_inclusion(
    bundle: ProofBundle, keys: tuple[PublicKey, ...], stamp: StampCheck | None
) -> LogVerdict:
    """The leaf is this receipt's, in a checkpoint signed with one of `keys`, time-stamped."""
    index = bundle.leaf_index
    problem = leaf_problem(bundle)
    if problem:
        return LogVerdict(index, problem)
    opened = _open(bundle.checkpoint, keys)
    if opened is None:
        return LogVerdict(index, _NOT_SIGNED)
    body = opened.body
    leaf = merkle.leaf_hash(bundle.leaf_data)
    if not merkle.verify_inclusion(index, body.size, leaf, bundle.inclusion_proof, body.root):
        return LogVerdict(index, _NOT_INCLUDED.format(index=index, size=body.size))
    verdict = LogVerdict(index, None, body.size, opened.key_id)
    if bundle.timestamp is None or stamp is None:
        return verdict
    stamped = stamp(bundle.timestamp, bundle.checkpoint.encode("utf-8"))
    if stamped is None:
        return LogVerdict(index, _BAD_STAMP, body.size, opened.key_id)
    return LogVerdict(index, None, body.size, opened.key_id, stamped)


def check_consistency(
    session: Session, verdict: LogVerdict, bundle: ProofBundle, keys: tuple[PublicKey, ...]
) -> LogVerdict:
    """The bundle's checkpoint against the council's newest witnessed one, from its own tree."""
    opened = _open(bundle.checkpoint, keys)
    latest = latest_witnessed_head(session)
    newest = _open(latest.note, keys) if latest is not None else None
    if opened is None or newest is None:
        return _failed(verdict, "The council’s log has no witnessed checkpoint to compare with.")
    old, new = opened.body, newest.body
    if new.size < old.size:
        return _failed(verdict, _CUT_BACK.format(latest=new.size, size=old.size), new.size)
    try:
        hashes = consistency_hashes(session, old.size, new.size)
    except MissingNode:
        hashes = []
    if not merkle.verify_consistency(old.size, new.size, old.root, new.root, hashes):
        return _failed(verdict, _INCONSISTENT.format(latest=new.size), new.size)
    return LogVerdict(**{**vars(verdict), "latest_size": new.size})


def _failed(verdict: LogVerdict, problem: str, latest: int | None = None) -> LogVerdict:
    return LogVerdict(**{**vars(verdict), "problem": problem, "latest_size": latest})


def check_bundle(
    session: Session,
    bundle: ProofBundle,
    keys: tuple[PublicKey, ...],
    stamp: StampCheck | None,
) -> LogVerdict:
    """Every check of the log part, in order; the first that fails is the verdict."""
    verdict = check_inclusion(bundle, keys, stamp)
    if verdict.problem is not None:
        return verdict
    return check_consistency(session, verdict, bundle, keys)


_NOT_SIGNED = (
    "The checkpoint in this file is not signed by any of the council’s published keys: it was "
    "changed, or it is not the council’s."
)
_NOT_INCLUDED = (
    "The proof does not show the log entry as entry {index} of the checkpoint of {size} "
    "entries: a hash, the entry's number or the checkpoint's size was changed."
)
_BAD_STAMP = (
    "The checkpoint’s time-stamp does not verify: it is not the time-stamping authority’s "
    "token for this checkpoint."
)
_CUT_BACK = (
    "The council’s newest witnessed checkpoint has {latest} entries, fewer than this one’s "
    "{size}: entries were removed from the log."
)
_INCONSISTENT = (
    "The council’s newest witnessed checkpoint ({latest} entries) is not consistent with this "
    "one: entries before it were removed or changed."
)
