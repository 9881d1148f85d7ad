"""The signed tree head an evidence file carries, and its witness token, checked offline.

The header of an evidence file (portal/audit/evidence_file.py) holds the log's origin, its
verifier key (C2SP `vkey`, for other tools) and the key's PEM, the signed note of the tree head
its proofs lead to, and what witnessed that head: the checkpoint store (when it wrote the note:
the store is at the council, so this is a statement, not something a reader can check) and the
RFC 3161 TSA (its token over SHA-256 of the note, which anyone holding the TSA's root
certificate can check). The note's signature is checked with the key the reader trusts (the
council's published key), or the file's own copy, which proves only that the file is
self-consistent; the token likewise with the TSA root the reader trusts, or the copy in the
file. With a trusted TSA root, a head without a token is not verified. No database: the
offline check uses this.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.audit.note import CheckpointBody, NoteError, open_note, verifier_key
from portal.audit.signing import PublicKey, SigningKeyError
from portal.audit.witness import TimestampInvalid, check_timestamp


class HeadInvalid(Exception):
    """The file's tree head, key or witness token does not hold; the message says what."""


@dataclass(frozen=True)
class CheckedHead:
    """A tree head whose signature held, and when the TSA saw it (None: not time-stamped)."""

    body: CheckpointBody
    key: PublicKey
    key_was_supplied: bool
    stamped_at: datetime | None
    tsa_was_supplied: bool


def check_head(
    header: dict[str, Any], trusted_key: PublicKey | None, tsa_roots: bytes | None
) -> CheckedHead:
    """The header's tree head checked with `trusted_key` (else the file's copy) and its TSA
    token with `tsa_roots` (else the file's copy). Raises HeadInvalid naming what fails."""
    log, checkpoint = _object(header, "log"), _object(header, "checkpoint")
    origin, note = _text(log, "origin"), _text(checkpoint, "note")
    own_key = _own_key(log)
    if _text(log, "verifier_key") != verifier_key(origin, own_key):
        raise HeadInvalid("The file's verifier key is not the key its PEM copy holds.")
    key = trusted_key or own_key
    try:
        opened = open_note(note, [(origin, key)])
    except NoteError as error:
        raise HeadInvalid(
            f"The tree head's signature is not valid for key {key.key_id}: {error}"
        ) from None
    if opened.body.origin != origin:
        raise HeadInvalid(f"The tree head is for log {opened.body.origin}, not {origin}.")
    stamped_at, tsa_supplied = _stamped_at(header, checkpoint, note, tsa_roots)
    return CheckedHead(opened.body, key, trusted_key is not None, stamped_at, tsa_supplied)


def _stamped_at(
    header: dict[str, Any], checkpoint: dict[str, Any], note: str, tsa_roots: bytes | None
) -> tuple[datetime | None, bool]:
    witnesses = checkpoint.get("witnesses")
    if not isinstance(witnesses, list):
        raise HeadInvalid("The tree head's witnesses cannot be read.")
    tokens = [w for w in witnesses if isinstance(w, dict) and w.get("witness") == "tsa"]
    if not tokens:
        if tsa_roots is not None:
            # Checked against a trusted TSA root, a head without a token is unproven in time:
            # anyone holding the signing key could have made it, at any time.
            raise HeadInvalid(
                "The tree head has no time-stamp from the TSA, so when it was signed cannot be "
                "checked against the TSA's root certificate."
            )
        return None, False
    try:
        token = base64.b64decode(tokens[0]["token"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise HeadInvalid("The TSA's token cannot be read.") from None
    roots = tsa_roots if tsa_roots is not None else _own_roots(header)
    try:
        return check_timestamp(token, note.encode("utf-8"), roots), tsa_roots is not None
    except TimestampInvalid as error:
        raise HeadInvalid(f"The TSA's token on the tree head does not verify: {error}") from None


def _own_roots(header: dict[str, Any]) -> bytes:
    roots = header.get("tsa_roots")
    if not isinstance(roots, str) or not roots:
        raise HeadInvalid("The file has a TSA token but not the TSA's certificate to check it.")
    return roots.encode("ascii", errors="replace")


def _own_key(log: dict[str, Any]) -> PublicKey:
    try:
        return PublicKey.from_pem(_text(log, "public_key").encode("ascii"))
    except (SigningKeyError, UnicodeEncodeError) as error:
        raise HeadInvalid(f"The file's copy of the key cannot be read ({error}).") from None


def _object(value: dict[str, Any], name: str) -> dict[str, Any]:
    found = value.get(name)
    if not isinstance(found, dict):
        raise HeadInvalid(f"The file's {name} cannot be read.")
    return found


def _text(value: dict[str, Any], name: str) -> str:
    found = value.get(name)
    if not isinstance(found, str):
        raise HeadInvalid(f"The file's {name.replace('_', ' ')} cannot be read.")
    return found
