"""The audit evidence file: a filtered set of events that anyone can check offline against a
signed checkpoint, without the database.

JSON Lines. The first line describes the export and carries the checkpoint, its signature and
the signing key's public half; then one line per event from the first matching event to the
checkpoint, in order. Matching events carry their fields and stored hash; the others only the
digest of their fields (see portal/audit/chain.py), which reveals nothing about them but still
lets the chain be recomputed from the first event's `prev_hash` to the signed head.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.audit.chain import checkpoint_message, content_digest, link
from portal.audit.signing import PublicKey, SigningKeyError

FORMAT = "portal-audit-evidence/1"
# Told each event the check verified: its fields, the hash before it and its own hash.
OnEvent = Callable[[dict[str, Any], bytes, bytes], None]


@dataclass(frozen=True)
class EvidenceReport:
    ok: bool
    message: str
    events: int = 0
    checkpoint_seq: int | None = None
    key_id: str | None = None
    key_was_supplied: bool = False


def header_line(
    *,
    exported_at: datetime,
    filters: dict[str, Any],
    checkpoint: dict[str, Any],
    public_key_pem: str,
    first_seq: int | None,
    prev_hash: bytes | None,
) -> str:
    return _line(
        {
            "format": FORMAT,
            "exported_at": exported_at.isoformat(),
            "filters": filters,
            "checkpoint": checkpoint,
            "public_key": public_key_pem,
            "first_seq": first_seq,
            "prev_hash": prev_hash.hex() if prev_hash is not None else None,
        }
    )


def event_line(seq: int, fields: dict[str, Any], stored_hash: bytes) -> str:
    return _line({"seq": seq, "event": fields, "hash": stored_hash.hex()})


def digest_line(seq: int, fields: dict[str, Any]) -> str:
    return _line({"seq": seq, "digest": content_digest(fields).hex()})


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def check_evidence(
    lines: Iterable[str], trusted_key: PublicKey | None, on_event: OnEvent | None = None
) -> EvidenceReport:
    """Check an evidence file, read one line at a time; `trusted_key` is the published
    checkpoint key. Without it the file's own key is used, which proves only that the file is
    self-consistent. `on_event` is told each matching event once its hash is checked."""
    entries = _parse(iter(lines))
    try:
        header = next(entries)
    except StopIteration:
        return EvidenceReport(False, "The file is empty.")
    except ValueError as error:
        return EvidenceReport(False, str(error))
    if header.get("format") != FORMAT:
        return EvidenceReport(False, f"This is not a {FORMAT} file.")
    try:
        checkpoint = header["checkpoint"]
        seq, head = int(checkpoint["seq"]), bytes.fromhex(checkpoint["head_hash"])
        signed_at = datetime.fromisoformat(checkpoint["signed_at"])
        signature = bytes.fromhex(checkpoint["signature"])
        key = trusted_key or PublicKey.from_pem(header["public_key"].encode("ascii"))
    except (KeyError, TypeError, ValueError, SigningKeyError) as error:
        return EvidenceReport(False, f"The file's checkpoint cannot be read ({error}).")
    if not key.verifies(checkpoint_message(seq, head, signed_at), signature):
        return EvidenceReport(False, "The checkpoint's signature is not valid for this key.")
    result = _walk(entries, header, seq, head, on_event)
    return EvidenceReport(
        result[0], result[1], result[2], seq, key.key_id, key_was_supplied=trusted_key is not None
    )


def _walk(
    entries: Iterator[dict[str, Any]],
    header: dict[str, Any],
    seq: int,
    head: bytes,
    on_event: OnEvent | None,
) -> tuple[bool, str, int]:
    if header.get("first_seq") is None:
        return True, "The file holds no events; its checkpoint is valid.", 0
    expected = int(header["first_seq"])
    current = bytes.fromhex(header["prev_hash"])
    events = 0
    try:
        for entry in entries:
            if entry.get("seq") != expected:
                return False, f"Line for event {expected} is missing or out of order.", events
            if "event" in entry:
                fields = entry["event"]
                if fields.get("seq") != expected:
                    return False, f"Event {expected} names another sequence number.", events
                before, current = current, link(current, content_digest(fields))
                if entry.get("hash") != current.hex():
                    return False, f"Event {expected} was changed: it no longer matches.", events
                if on_event is not None:
                    on_event(fields, before, current)
                events += 1
            else:
                current = link(current, bytes.fromhex(entry["digest"]))
            expected += 1
    except (KeyError, TypeError, ValueError) as error:
        return False, f"Line for event {expected} cannot be read ({error}).", events
    if expected - 1 != seq or current != head:
        return False, "The events do not lead to the signed checkpoint.", events
    verified = f"{events_text(events)} verified against the checkpoint signed at event {seq}."
    return True, verified, events


def events_text(count: int) -> str:
    """1 event, 2 events."""
    return f"{count} event" if count == 1 else f"{count} events"


def _parse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise ValueError(f"Line {number} is not JSON.") from None
        if not isinstance(value, dict):
            raise ValueError(f"Line {number} is not a JSON object.")
        yield value
