#!/usr/bin/env python3
"""Check a receipt from the partner delegation portal, outside the portal (docs/receipts.md).

    python3 scripts/verify-receipt.py RECEIPT.json PUBLIC-KEY.pem [CONTENT.json]

RECEIPT.json is the receipt the portal gave (or receipt.json from the copy's PDF);
PUBLIC-KEY.pem the council's published key the receipt names (/receipts/keys/<key_id>.pem;
/receipts/keys lists them all, retired ones included);
CONTENT.json, optionally, the canonical content (content.json from the PDF), checked against
the receipt's SHA-256 digest. Needs only Python 3.11+ and the `cryptography` package.
Exit status: 0 verified, 1 does not verify, 2 the files cannot be read.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMATS = ("portal-receipt/1", "portal-receipt/2")
# The time exactly as the portal writes it (and signs it): microseconds and a UTC offset.
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d\d:\d\d")


class Damaged(ValueError):
    """A field is not as the portal writes it: the receipt is refused, as the portal's page
    refuses it, rather than read another way."""


def signed_message(receipt: dict[str, object]) -> bytes:
    """The bytes the portal signed, one field a line, each line ending in a newline: format 2
    names the organisation (its id and name) after the format line. Every field is used
    exactly as the receipt holds it: the version a JSON integer, the time a string as written."""
    version = receipt.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Damaged("version is not a whole number")
    moment = receipt.get("submitted_at")
    if not isinstance(moment, str) or not MOMENT.fullmatch(moment):
        raise Damaged("submitted_at is not a time as the portal writes it")
    names = ["format", "request", "sha256"]
    if receipt["format"] == "portal-receipt/2":
        names += ["organisation_id", "organisation"]
    if not all(isinstance(receipt.get(name), str) for name in names):
        raise Damaged("a field is missing or not text")
    lines = [str(receipt["format"])]
    if receipt["format"] == "portal-receipt/2":
        lines += [str(receipt["organisation_id"]), str(receipt["organisation"])]
    lines += [str(receipt["request"]), str(version), moment, str(receipt["sha256"])]
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def main(arguments: list[str]) -> int:
    if len(arguments) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        receipt = json.loads(Path(arguments[0]).read_text(encoding="utf-8-sig"))
        key = serialization.load_pem_public_key(Path(arguments[1]).read_bytes())
        content = Path(arguments[2]).read_bytes() if len(arguments) == 3 else None
    except (OSError, ValueError) as error:
        print(f"Cannot read the files: {error}", file=sys.stderr)
        return 2
    if not isinstance(key, Ed25519PublicKey):
        print("The public key is not an Ed25519 key.", file=sys.stderr)
        return 2
    if not isinstance(receipt, dict) or receipt.get("format") not in FORMATS:
        print(
            f"Not a receipt in a format this script knows ({', '.join(FORMATS)}).", file=sys.stderr
        )
        return 2
    if receipt.get("key_id") != key_id(key):
        print(f"NOT VERIFIED: the receipt names key {receipt.get('key_id')}, not this key.")
        return 1
    try:
        message = signed_message(receipt)
    except (Damaged, KeyError) as damage:
        print(f"NOT VERIFIED: the receipt is damaged: {damage}.")
        return 1
    try:
        key.verify(bytes.fromhex(str(receipt["signature"])), message)
    except (InvalidSignature, KeyError, ValueError):
        print("NOT VERIFIED: the signature does not match the receipt.")
        return 1
    sender = f" by {receipt['organisation']}" if "organisation" in receipt else ""
    if receipt["format"] == "portal-receipt/1":
        sender = ""  # format 1 signs no organisation: whatever the file says is not proven
    print(
        f"VERIFIED: version {receipt['version']} of request {receipt['request']}, sent{sender} "
        f"at {receipt['submitted_at']}, content SHA-256 {receipt['sha256']}, "
        f"key {receipt['key_id']}."
    )
    if content is not None:
        if hashlib.sha256(content).hexdigest() != receipt["sha256"]:
            print("CONTENT DOES NOT MATCH: the content file is not what the receipt covers.")
            return 1
        print("CONTENT MATCHES: the content file is exactly what the receipt covers.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
