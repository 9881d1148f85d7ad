"""A partner's receipt with its proof that the submission is in the council's audit log
(format `portal-receipt-proof/1`, docs/receipts.md).

At submission the portal records, beside the council's own event, a `receipt_logged` event
that holds only what the receipt says (request, version, digest) and the partner's own
metadata: no case reference. Its canonical encoding is a leaf of the log, so the partner may be
given it. Once a witnessed tree head covers that leaf, the bundle carries the receipt, the leaf,
the head (the whole signed note), the inclusion proof, the head's RFC 3161 token and the log's
name and verifier key: enough to check, years later and without the portal, that the
submission is in the log; the log's public consistency proofs then show it was never removed.

Who may have it: whoever may have the copy (portal/contributions/sent_copy.py).
"""

from __future__ import annotations

import base64
import enum
import json
from typing import Any

from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_lasting_event
from portal.audit.note import verifier_key
from portal.audit.proofs import (
    LoggedLeaf,
    inclusion_in_witnessed,
    latest_witnessed_head,
    logged_leaves,
)
from portal.audit.runtime import AuditKeys
from portal.auth.login import actor_for
from portal.contributions import receipts
from portal.models import Contribution, DelegationRequest, User

FORMAT = "portal-receipt-proof/1"


class ProofState(enum.StrEnum):
    READY = "ready"  # in a witnessed checkpoint: the bundle can be downloaded
    WAITING = "waiting"  # logged, not yet in a witnessed checkpoint (within a few minutes)
    NONE = "none"  # sent before receipts were logged for partners: there is no leaf to prove


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _leaves(session: Session, contributions: list[Contribution]) -> dict[str, LoggedLeaf]:
    ids = [str(c.id) for c in contributions if c.submitted_at is not None]
    return logged_leaves(session, AuditAction.RECEIPT_LOGGED.value, ids)


def proof_states(session: Session, contributions: list[Contribution]) -> dict[str, ProofState]:
    """Whether each sent version's proof can be had yet, by contribution id."""
    leaves = _leaves(session, contributions)
    head = latest_witnessed_head(session) if leaves else None
    covered = head.tree_size if head is not None else 0
    states = {}
    for contribution in contributions:
        leaf = leaves.get(str(contribution.id))
        if leaf is None:
            states[str(contribution.id)] = ProofState.NONE
        elif leaf.leaf_index is not None and leaf.leaf_index < covered:
            states[str(contribution.id)] = ProofState.READY
        else:
            states[str(contribution.id)] = ProofState.WAITING
    return states


def proof_bundle(
    session: Session, keys: AuditKeys, found: DelegationRequest, contribution: Contribution
) -> dict[str, Any] | None:
    """The bundle, or None while the version's leaf is in no witnessed checkpoint (or it has
    none): never half a bundle."""
    leaf = _leaves(session, [contribution]).get(str(contribution.id))
    if leaf is None or leaf.leaf_index is None:
        return None
    inclusion = inclusion_in_witnessed(session, leaf.leaf_index)
    if inclusion is None:
        return None
    signer = next((k for k in keys.trusted if k.key_id == inclusion.head.key_id), None)
    if signer is None:
        return None  # signed by a key the council no longer trusts: nothing to check it with
    # The name the head was signed under (the origin when it was signed) names its key.
    origin = inclusion.head.note.split("\n", 1)[0]
    return {
        "format": FORMAT,
        "receipt": receipts.receipt_document(found, contribution),
        "leaf_index": leaf.leaf_index,
        "leaf_data": _b64(leaf.data),
        "checkpoint": inclusion.head.note,
        "inclusion_proof": [_b64(value) for value in inclusion.proof],
        "checkpoint_timestamp": _b64(inclusion.token) if inclusion.token else None,
        "log_origin": origin,
        "verifier_key": verifier_key(origin, signer),
    }


def bundle_json(bundle: dict[str, Any]) -> bytes:
    """The bundle as downloaded: indented JSON, ASCII, ending in a newline."""
    return (json.dumps(bundle, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def record_download(
    found: DelegationRequest, contribution: Contribution, viewer: User, after_close: bool
) -> None:
    """The download on the record, like the copy's reading (it shows no content)."""
    record_lasting_event(
        AuditAction.RECEIPT_PROOF_DOWNLOADED,
        actor=actor_for(viewer),
        object_type="contribution",
        object_id=contribution.id,
        case_reference=found.case.cms_reference,
        details={
            "request": found.reference,
            "version": contribution.version,
            "after_close": after_close,
        },
    )
