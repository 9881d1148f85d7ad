"""Receipts: what a partner sent, provably. The digest covers the canonical content (the
answers, and which children the partner confirmed it knows and on what it matched) and the
attachments' digests; the portal signs it with its published Ed25519 key (the audit
checkpoint key), so the partner can later prove exactly what it sent and when."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from portal.audit.signing import CheckpointSigner, PublicKey
from portal.models import ChildConfirmation, Contribution, DelegationRequest

FORMAT = "portal-receipt/1"
# The names of the files the copy's PDF carries (portal/contributions/copy_pdf.py).
RECEIPT_FILE = "receipt.json"
CONTENT_FILE = "content.json"


def canonical_content(
    request: DelegationRequest,
    contribution: Contribution,
    answers: dict[str, Any],
    confirmations: Iterable[ChildConfirmation] = (),
) -> bytes:
    content: dict[str, Any] = {
        "format": FORMAT,
        "request": request.reference,
        "form_template": request.form_template,
        "form_template_version": request.form_template_version,
        "version": contribution.version,
        "answers": answers,
        "attachments": sorted(
            (
                {
                    "answer_key": attachment.answer_key,
                    "sha256": (attachment.sha256 or b"").hex(),
                    "size_bytes": attachment.size_bytes,
                    "content_type": attachment.content_type,
                }
                for attachment in contribution.attachments
            ),
            key=lambda item: (item["answer_key"], item["sha256"]),
        ),
    }
    children = confirmed_children(confirmations)
    # Only when there are any: a version sent before confirmations existed has none, and its
    # content must canonicalise exactly as it did when it was signed.
    if children:
        content["children"] = children
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def confirmed_children(confirmations: Iterable[ChildConfirmation]) -> list[dict[str, str | None]]:
    """Each child's confirmation as codes, keyed by the child's id as the answers are."""
    return sorted(
        (
            {
                "child": str(confirmation.child_id),
                "answer": confirmation.answer.value,
                "matched_on": confirmation.matched_on.value if confirmation.matched_on else None,
            }
            for confirmation in confirmations
        ),
        key=lambda item: item["child"] or "",
    )


def signed_message(reference: str, version: int, submitted_at: datetime, digest: bytes) -> bytes:
    return (
        f"{FORMAT}\n{reference}\n{version}\n"
        f"{submitted_at.isoformat(timespec='microseconds')}\n{digest.hex()}\n"
    ).encode("ascii")


def sign(
    signer: CheckpointSigner,
    request: DelegationRequest,
    contribution: Contribution,
    answers: dict[str, Any],
    confirmations: Iterable[ChildConfirmation] = (),
) -> None:
    assert contribution.submitted_at is not None  # noqa: S101 - set by the caller first
    content = canonical_content(request, contribution, answers, confirmations)
    digest = hashlib.sha256(content).digest()
    contribution.receipt_digest = digest
    contribution.receipt_key_id = signer.public.key_id
    contribution.receipt_signature = signer.sign(
        signed_message(request.reference, contribution.version, contribution.submitted_at, digest)
    )


def receipt_document(request: DelegationRequest, contribution: Contribution) -> dict[str, Any]:
    """The downloadable receipt: enough to check the signature with the published key."""
    assert contribution.submitted_at is not None  # noqa: S101
    return {
        "format": FORMAT,
        "request": request.reference,
        "version": contribution.version,
        "submitted_at": contribution.submitted_at.isoformat(timespec="microseconds"),
        "sha256": (contribution.receipt_digest or b"").hex(),
        "key_id": contribution.receipt_key_id,
        "signature": (contribution.receipt_signature or b"").hex(),
    }


def verify_receipt(document: dict[str, Any], key: PublicKey) -> bool:
    message = signed_message(
        document["request"],
        int(document["version"]),
        datetime.fromisoformat(document["submitted_at"]),
        bytes.fromhex(document["sha256"]),
    )
    return key.verifies(message, bytes.fromhex(document["signature"]))
