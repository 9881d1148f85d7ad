#!/usr/bin/env python3
"""Check a receipt from the partner delegation portal, outside the portal (docs/receipts.md).

    python3 scripts/verify-receipt.py RECEIPT.json PUBLIC-KEY.pem [CONTENT.json]
    python3 scripts/verify-receipt.py --proof PROOF.json PUBLIC-KEY.pem [--log https://portal]

RECEIPT.json is the receipt the portal gave (or receipt.json from the copy's PDF);
PUBLIC-KEY.pem the council's published key the receipt names (/receipts/keys/<key_id>.pem;
/receipts/keys lists them all, retired ones included);
CONTENT.json, optionally, the canonical content (content.json from the PDF), checked against
the receipt's SHA-256 digest. With --proof, PROOF.json is the receipt with its proof that it
is in the council's audit log (portal-receipt-proof/1): the receipt, its log entry, the entry's
inclusion in a checkpoint signed with the same key are checked offline, and with --log the
checkpoint's consistency with the log's newest one, fetched from the portal. Needs only Python
3.11+ and the `cryptography` package. Exit status: 0 verified, 1 does not verify, 2 the files
(or the log) cannot be read.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMATS = ("portal-receipt/1", "portal-receipt/2")
PROOF_FORMAT = "portal-receipt-proof/1"
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


def receipt_verdict(receipt: object, key: Ed25519PublicKey) -> tuple[int, str]:
    """(exit status, the line to print) for a receipt checked with the council's key."""
    if not isinstance(receipt, dict) or receipt.get("format") not in FORMATS:
        return 2, f"Not a receipt in a format this script knows ({', '.join(FORMATS)})."
    if receipt.get("key_id") != key_id(key):
        return 1, f"NOT VERIFIED: the receipt names key {receipt.get('key_id')}, not this key."
    try:
        message = signed_message(receipt)
    except (Damaged, KeyError) as damage:
        return 1, f"NOT VERIFIED: the receipt is damaged: {damage}."
    try:
        key.verify(bytes.fromhex(str(receipt["signature"])), message)
    except (InvalidSignature, KeyError, ValueError):
        return 1, "NOT VERIFIED: the signature does not match the receipt."
    sender = f" by {receipt['organisation']}" if "organisation" in receipt else ""
    if receipt["format"] == "portal-receipt/1":
        sender = ""  # format 1 signs no organisation: whatever the file says is not proven
    return 0, (
        f"VERIFIED: version {receipt['version']} of request {receipt['request']}, sent{sender} "
        f"at {receipt['submitted_at']}, content SHA-256 {receipt['sha256']}, "
        f"key {receipt['key_id']}."
    )


def read_key(path: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--proof"]:
        return proof_main(arguments[1:])
    if len(arguments) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        receipt = json.loads(Path(arguments[0]).read_text(encoding="utf-8-sig"))
        key = read_key(arguments[1])
        content = Path(arguments[2]).read_bytes() if len(arguments) == 3 else None
    except (OSError, ValueError) as error:
        print(f"Cannot read the files: {error}", file=sys.stderr)
        return 2
    status, line = receipt_verdict(receipt, key)
    print(line, file=sys.stderr if status == 2 else sys.stdout)
    if status != 0:
        return status
    if content is not None:
        if hashlib.sha256(content).hexdigest() != receipt["sha256"]:
            print("CONTENT DOES NOT MATCH: the content file is not what the receipt covers.")
            return 1
        print("CONTENT MATCHES: the content file is exactly what the receipt covers.")
    return 0


# The audit log's proofs, on their own (RFC 9162 section 2.1): this script trusts no portal
# code, so it carries the hashing and the two verification algorithms, written from the RFC.


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index: int, size: int, leaf: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: the leaf hash is entry `index` of the tree of `size` with `root`."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: the tree of `second` leaves extends the tree of `first` leaves."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first & (first - 1) == 0:
        path = [first_root, *path]
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def open_checkpoint(note: str, key: Ed25519PublicKey) -> tuple[str, int, bytes]:
    """(origin, size, root) of a C2SP checkpoint signed as a signed note by `key` under its
    origin's name; Damaged when it is not."""
    text, blank, signatures = note.partition("\n\n")
    lines = text.split("\n")
    if not blank or len(lines) < 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Damaged("the checkpoint is not a signed checkpoint note")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hint = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
    for line in signatures.splitlines():
        name, _, value = line.removeprefix("\u2014 ").partition(" ")
        signature = base64.b64decode(value, validate=True)
        if line.startswith("\u2014 ") and name == origin and signature[:4] == hint:
            try:
                key.verify(signature[4:], (text + "\n").encode("utf-8"))
            except InvalidSignature:
                break
            if len(root) == 32:
                return origin, size, root
    raise Damaged("the checkpoint is not signed with this key")


def leaf_problem(receipt: dict[str, object], data: bytes) -> str | None:
    """Why the log entry is not this receipt's `receipt_logged` event (None when it is)."""
    fields = json.loads(data.decode("ascii"))
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if not isinstance(fields, dict) or canonical.encode("ascii") != data:
        return "the log entry is not written as the log writes its entries"
    said = {k: receipt.get(k) for k in ("request", "version")}
    said["receipt_sha256"] = receipt.get("sha256")
    organisation = receipt.get("organisation_id", fields.get("actor_organisation_id"))
    if (
        fields.get("action") != "receipt_logged"
        or fields.get("object_type") != "contribution"
        or "case_reference" not in fields
        or fields["case_reference"] is not None
        or fields.get("details") != said
        or fields.get("actor_organisation_id") != organisation
    ):
        return "the log entry is not this receipt's: it records something else"
    return None


def fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise ValueError("the log's address must start with https://")
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - checked above
        return bytes(answer.read(1024 * 1024))


def check_log(log: str, key: Ed25519PublicKey, size: int, root: bytes) -> tuple[int, str]:
    """The checkpoint against the log's newest witnessed one, fetched from `log`."""
    base = log.rstrip("/")
    try:
        _, latest, latest_root = open_checkpoint(
            fetch(f"{base}/audit-log/checkpoint").decode(), key
        )
    except Damaged as damage:
        return 1, f"NOT CONSISTENT: the log's newest checkpoint does not verify: {damage}."
    if latest < size:
        return (
            1,
            f"NOT CONSISTENT: the log's newest checkpoint has {latest} entries, fewer "
            f"than this one's {size}: entries were removed.",
        )
    query = urllib.parse.urlencode({"old": size, "new": latest})
    hashes = json.loads(fetch(f"{base}/audit-log/consistency?{query}"))
    path = [base64.b64decode(h, validate=True) for h in hashes]
    if not verify_consistency(size, latest, root, latest_root, path):
        return (
            1,
            f"NOT CONSISTENT: the log's newest checkpoint ({latest} entries) does not "
            "extend this one: entries before it were removed or changed.",
        )
    return (
        0,
        f"CONSISTENT: the log's newest checkpoint ({latest} entries) extends this one: "
        "nothing before it was removed or changed.",
    )


def check_proof(bundle: dict[str, object], key: Ed25519PublicKey) -> tuple[int, str, int, bytes]:
    """(status, line, size, root) for the bundle's log entry and its inclusion."""
    index, proof = bundle.get("leaf_index"), bundle.get("inclusion_proof")
    if not isinstance(index, int) or not isinstance(proof, list):
        raise Damaged("leaf_index or inclusion_proof is missing")
    data = base64.b64decode(str(bundle.get("leaf_data")), validate=True)
    receipt = bundle.get("receipt")
    problem = leaf_problem(receipt if isinstance(receipt, dict) else {}, data)
    if problem:
        return 1, f"NOT IN THE LOG: {problem}.", 0, b""
    origin, size, root = open_checkpoint(str(bundle.get("checkpoint")), key)
    path = [base64.b64decode(str(h), validate=True) for h in proof]
    if not verify_inclusion(index, size, leaf_hash(data), path, root):
        return (
            1,
            f"NOT IN THE LOG: the proof does not show entry {index} in the "
            f"checkpoint of {size} entries.",
            size,
            root,
        )
    return (
        0,
        f"IN THE LOG: entry {index} of {origin}, in its checkpoint of {size} "
        f"entries signed with key {key_id(key)}.",
        size,
        root,
    )


def proof_main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="verify-receipt.py --proof")
    parser.add_argument("proof")
    parser.add_argument("key")
    parser.add_argument("--log", help="the portal's address, to check consistency")
    options = parser.parse_args(arguments)
    try:
        bundle = json.loads(Path(options.proof).read_text(encoding="utf-8-sig"))
        key = read_key(options.key)
        if not isinstance(bundle, dict) or bundle.get("format") != PROOF_FORMAT:
            raise ValueError(f"not a receipt with its proof ({PROOF_FORMAT})")
    except (OSError, ValueError) as error:
        print(f"Cannot read the files: {error}", file=sys.stderr)
        return 2
    status, line = receipt_verdict(bundle.get("receipt"), key)
    print(line, file=sys.stderr if status == 2 else sys.stdout)
    if status != 0:
        return status
    try:
        status, line, size, root = check_proof(bundle, key)
    except (Damaged, ValueError) as damage:
        status, line, size, root = 1, f"NOT IN THE LOG: the proof is damaged: {damage}.", 0, b""
    print(line)
    if status != 0:
        return status
    print(
        "The checkpoint's time-stamp (checkpoint_timestamp) is not checked here: see "
        "docs/receipts.md for `openssl ts -verify`."
    )
    if options.log is None:
        print("Consistency with the log's newest checkpoint not checked: give --log.")
        return 0
    try:
        status, line = check_log(options.log, key, size, root)
    except (OSError, ValueError) as error:
        print(f"Cannot read the log at {options.log}: {error}", file=sys.stderr)
        return 2
    print(line)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
