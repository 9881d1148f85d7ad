"""The audit evidence file: a filtered set of events that anyone can check offline against a
signed, witnessed tree head of the audit log, without the database.

JSON Lines (`portal-audit-evidence/2`):

1. a header: the export's filters, the log (origin, verifier key, the key's PEM), the tree
   head's signed note and its witnesses (the TSA's token, base64), and the TSA's certificate
   (portal/audit/evidence_checkpoint.py checks them);
2. one line per matching event in the head, in tree order: its fields (what its leaf hashes,
   portal/audit/chain.canonical_encoding), its leaf index and its inclusion proof (RFC 9162,
   base64 hashes, deepest first);
3. one line per matching event recorded after the head, marked `waiting`: its fields, no proof
   (not yet provable; the next export proves it);
4. an end line with both counts, so a file cut short is caught.

Each event line stands alone: the check recomputes its leaf from its fields and walks its
proof to the signed root, a line at a time. A waiting line may not repeat a proven event's
number. The TSA's time on the head must fall between the newest proven event (less a few
minutes for the clocks' skew) and the export's time (plus the same): a head time-stamped before
events it proves, or after the file says it was made, was not made as the file says.

Files of the first format (a hash chain, before the Merkle log) need the release that wrote
them.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.audit import merkle
from portal.audit.chain import canonical_encoding
from portal.audit.evidence_checkpoint import CheckedHead, HeadInvalid, check_head
from portal.audit.signing import PublicKey

FORMAT = "portal-audit-evidence/2"
# Told each event the check read: its fields, its leaf index (None: recorded after the head,
# not proven) and its leaf hash.
OnEvent = Callable[[dict[str, Any], int | None, bytes], None]
# How far the TSA's clock and the portal's may disagree.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class EvidenceReport:
    ok: bool
    message: str
    events: int = 0  # proven in the head
    waiting: int = 0  # recorded after the head, not yet provable
    tree_size: int | None = None
    key_id: str | None = None
    key_was_supplied: bool = False
    stamped_at: datetime | None = None  # when the TSA saw the head (checked), if it did
    tsa_was_supplied: bool = False


def header_line(
    *,
    exported_at: datetime,
    filters: dict[str, Any],
    log: dict[str, str],
    checkpoint: dict[str, Any],
    tsa_roots_pem: str | None,
) -> str:
    return _line(
        {
            "format": FORMAT,
            "exported_at": exported_at.isoformat(),
            "filters": filters,
            "log": log,
            "checkpoint": checkpoint,
            "tsa_roots": tsa_roots_pem,
        }
    )


def event_line(fields: dict[str, Any], leaf_index: int, proof: list[bytes]) -> str:
    encoded = [base64.b64encode(value).decode("ascii") for value in proof]
    return _line({"event": fields, "leaf_index": leaf_index, "proof": encoded})


def waiting_line(fields: dict[str, Any]) -> str:
    return _line({"event": fields, "waiting": True})


def end_line(proven: int, waiting: int) -> str:
    return _line({"end": {"proven": proven, "waiting": waiting}})


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def leaf_of(fields: dict[str, Any]) -> bytes:
    """The event's leaf hash, from the fields the file carries."""
    return merkle.leaf_hash(canonical_encoding(fields))


def check_evidence(
    lines: Iterable[str],
    trusted_key: PublicKey | None,
    on_event: OnEvent | None = None,
    tsa_roots: bytes | None = None,
) -> EvidenceReport:
    """Check an evidence file, read one line at a time. `trusted_key` is the published
    checkpoint key, `tsa_roots` the TSA's published root certificate (PEM); without them the
    file's own copies are used, which proves only that the file is self-consistent."""
    entries = _parse(iter(lines))
    try:
        header = next(entries)
    except StopIteration:
        return EvidenceReport(False, "The file is empty.")
    except ValueError as error:
        return EvidenceReport(False, str(error))
    if header.get("format") != FORMAT:
        return EvidenceReport(
            False,
            f"This is not a {FORMAT} file (an export made before the audit log became a Merkle "
            "tree is checked with the release that made it).",
        )
    try:
        head = check_head(header, trusted_key, tsa_roots)
    except HeadInvalid as error:
        return EvidenceReport(False, str(error))
    walk = _Walk(head, on_event)
    ok, message, proven, waiting = _walk(entries, walk)
    if ok:
        late = _untimely(head.stamped_at, walk.newest, header.get("exported_at"))
        ok, message = (False, late) if late is not None else (ok, message)
    return EvidenceReport(
        ok,
        message,
        proven,
        waiting,
        head.body.size,
        head.key.key_id,
        head.key_was_supplied,
        head.stamped_at,
        head.tsa_was_supplied,
    )


class _Walk:
    """Where the check is in the event lines: counts, and the order they must keep."""

    def __init__(self, head: CheckedHead, on_event: OnEvent | None) -> None:
        self.head, self.on_event = head, on_event
        self.proven = self.waiting = 0
        self.last_leaf, self.last_waiting_seq = -1, -1
        self.ended = False
        self.newest: datetime | None = None  # the latest occurred_at of the proven events
        # The proven events' numbers, 8 bytes each, sorted at the first waiting line.
        self.proven_seqs, self.seqs_sorted = array("q"), False

    def take(self, entry: dict[str, Any]) -> str | None:
        """Check one line; the failure, said for people, or None."""
        if self.ended:
            return "There are lines after the file's end line."
        if "end" in entry:
            self.ended = True
            return self._end(entry["end"])
        fields = entry["event"]
        if not isinstance(fields, dict) or not isinstance(fields.get("seq"), int):
            return f"Line {self.proven + self.waiting + 2} holds no event that can be read."
        seq, leaf = fields["seq"], leaf_of(fields)
        if entry.get("waiting") is True:
            return self._waiting(fields, seq, leaf)
        return self._proven(entry, fields, seq, leaf)

    def _proven(
        self, entry: dict[str, Any], fields: dict[str, Any], seq: int, leaf: bytes
    ) -> str | None:
        index = entry["leaf_index"]
        if self.waiting or not isinstance(index, int) or index <= self.last_leaf:
            return f"The line for event {seq} is out of order or repeated."
        proof = [base64.b64decode(value, validate=True) for value in entry["proof"]]
        body = self.head.body
        if not merkle.verify_inclusion(index, body.size, leaf, proof, body.root):
            return (
                f"Event {seq} (leaf {index}) does not lead to the signed tree head: the event "
                "or its proof was changed."
            )
        self.last_leaf, self.proven = index, self.proven + 1
        self.proven_seqs.append(seq)
        moment = _moment(fields["occurred_at"])
        self.newest = moment if self.newest is None else max(self.newest, moment)
        if self.on_event is not None:
            self.on_event(fields, index, leaf)
        return None

    def _waiting(self, fields: dict[str, Any], seq: int, leaf: bytes) -> str | None:
        if seq <= self.last_waiting_seq:
            return f"The line for event {seq} is out of order or repeated."
        if self._was_proven(seq):
            return f"Event {seq} is listed as recorded after the tree head, but is proven in it."
        self.last_waiting_seq, self.waiting = seq, self.waiting + 1
        if self.on_event is not None:
            self.on_event(fields, None, leaf)
        return None

    def _was_proven(self, seq: int) -> bool:
        if not self.seqs_sorted:
            self.proven_seqs = array("q", sorted(self.proven_seqs))
            self.seqs_sorted = True
        at = bisect.bisect_left(self.proven_seqs, seq)
        return at < len(self.proven_seqs) and self.proven_seqs[at] == seq

    def _end(self, counts: Any) -> str | None:
        if counts != {"proven": self.proven, "waiting": self.waiting}:
            return "The file's end line does not count the events it holds: lines were removed."
        return None


def _walk(entries: Iterator[dict[str, Any]], walk: _Walk) -> tuple[bool, str, int, int]:
    try:
        for entry in entries:
            failure = walk.take(entry)
            if failure is not None:
                return False, failure, walk.proven, walk.waiting
    except (KeyError, TypeError, ValueError, OverflowError, binascii.Error) as error:
        line = walk.proven + walk.waiting + 2
        return False, f"Line {line} cannot be read ({error}).", walk.proven, walk.waiting
    if not walk.ended:
        return False, "The file is cut short: its end line is missing.", walk.proven, walk.waiting
    return True, _found(walk), walk.proven, walk.waiting


def _moment(text: Any) -> datetime:
    """An ISO 8601 time from the file, in UTC (one without an offset is taken as UTC)."""
    if not isinstance(text, str):
        raise ValueError("a time is not text")
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _untimely(stamped: datetime | None, newest: datetime | None, exported: Any) -> str | None:
    """Why the TSA's time on the head cannot be right for this file, or None."""
    if stamped is None:
        return None
    if newest is not None and stamped < newest - CLOCK_SKEW:
        return (
            "The TSA time-stamped the tree head before the newest event it proves was "
            "recorded: the head was not signed when the file says."
        )
    try:
        exported_at = _moment(exported)
    except ValueError:
        return "The file's export time cannot be read."
    if stamped > exported_at + CLOCK_SKEW:
        return (
            "The TSA time-stamped the tree head after the file says it was exported: the "
            "file's export time was changed."
        )
    return None


def _found(walk: _Walk) -> str:
    said = f"{events_text(walk.proven)} proven in the signed tree head of {walk.head.body.size}"
    said += " events" if walk.head.body.size != 1 else " event"
    if walk.waiting:
        said += f"; {events_text(walk.waiting)} recorded after it, listed but not yet provable"
    return said + "."


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
