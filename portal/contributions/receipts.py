"""Receipts: what a partner sent, provably. The digest covers the canonical content (the
answers, and which children the partner confirmed it knows and on what it matched) and the
attachments' digests; the portal signs it with its published Ed25519 key (the audit
checkpoint key), so the partner can later prove exactly what it sent and when.

Format 2 also signs which organisation sent it (its id, and its name as it was then, kept with
the version so the receipt verifies after a rename); format 1 receipts, signed before, verify
as they always did. docs/receipts.md describes both for people checking them elsewhere."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.audit.signing import CheckpointSigner, PublicKey
from portal.models import ChildConfirmation, Contribution, DelegationRequest

# The canonical content's layout (unchanged since format 1), and format 1 receipts.
FORMAT = "portal-receipt/1"
# Receipts that also name the organisation that sent the version.
FORMAT_2 = "portal-receipt/2"
FORMATS = (FORMAT, FORMAT_2)
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


@dataclass(frozen=True)
class Sender:
    """The organisation a format 2 receipt names: its id, and its name when it sent."""

    id: str
    name: str


def signed_message(
    reference: str,
    version: int,
    submitted_at: datetime,
    digest: bytes,
    sender: Sender | None = None,
) -> bytes:
    """The bytes signed: format 1 without a sender, format 2 (UTF-8) with one."""
    lines = f"{reference}\n{version}\n{submitted_at.isoformat(timespec='microseconds')}\n"
    lines += f"{digest.hex()}\n"
    if sender is None:
        return f"{FORMAT}\n{lines}".encode("ascii")
    return f"{FORMAT_2}\n{sender.id}\n{sender.name}\n{lines}".encode()


def signable_name(name: str) -> bool:
    """A name that is one line of the signed message as it stands: no control characters or
    line breaks of any kind, nothing to trim."""
    return (
        bool(name)
        and name == name.strip()
        and not any(unicodedata.category(c)[0] in "CZ" and c != " " for c in name)
    )


def signing_name(name: str) -> str:
    """The organisation's name as a receipt signs it: one line, whatever the name holds.
    Spaces of every kind (a no-break space, a tab, a line break) become one space, none at
    either end, and other invisible characters (controls, formatting) are dropped. A name left
    empty is signed as "(no name)": a receipt always names its sender."""
    words = "".join(
        " " if c.isspace() else c for c in name if c.isspace() or unicodedata.category(c)[0] != "C"
    ).split()
    return " ".join(words) or "(no name)"


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
    organisation = request.partner_organisation
    # Always format 2: the name made one line of the message (signable_name holds of it).
    sender = Sender(str(organisation.id), signing_name(organisation.name))
    contribution.receipt_digest = digest
    contribution.receipt_key_id = signer.public.key_id
    contribution.receipt_format = FORMAT_2
    contribution.receipt_organisation = sender.name
    contribution.receipt_signature = signer.sign(
        signed_message(
            request.reference, contribution.version, contribution.submitted_at, digest, sender
        )
    )


def sender_of(request: DelegationRequest, contribution: Contribution) -> Sender | None:
    """The organisation the version's receipt names: None for format 1."""
    if contribution.receipt_format != FORMAT_2 or contribution.receipt_organisation is None:
        return None
    return Sender(str(request.partner_organisation_id), contribution.receipt_organisation)


def receipt_document(request: DelegationRequest, contribution: Contribution) -> dict[str, Any]:
    """The downloadable receipt: enough to check the signature with the published key."""
    assert contribution.submitted_at is not None  # noqa: S101
    sender = sender_of(request, contribution)
    named = {"organisation_id": sender.id, "organisation": sender.name} if sender else {}
    return {
        "format": FORMAT_2 if sender else FORMAT,
        **named,
        "request": request.reference,
        "version": contribution.version,
        "submitted_at": contribution.submitted_at.isoformat(timespec="microseconds"),
        "sha256": (contribution.receipt_digest or b"").hex(),
        "key_id": contribution.receipt_key_id,
        "signature": (contribution.receipt_signature or b"").hex(),
    }


def verify_receipt(document: dict[str, Any], key: PublicKey) -> bool:
    sender = None
    if document["format"] == FORMAT_2:
        sender = Sender(document["organisation_id"], document["organisation"])
    message = signed_message(
        document["request"],
        int(document["version"]),
        datetime.fromisoformat(document["submitted_at"]),
        bytes.fromhex(document["sha256"]),
        sender,
    )
    return key.verifies(message, bytes.fromhex(document["signature"]))
