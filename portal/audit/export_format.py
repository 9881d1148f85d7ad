"""What an export ZIP's readable members hold, written once for both sides: the export writes
`events.csv` and `README.txt` with these functions (portal/audit/export.py), and the export
check rebuilds them from the evidence file with the same functions and compares them byte for
byte (portal/audit/export_verify.py). No database: the offline check uses it too."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from portal.audit.chain import FIELDS
from portal.uk_time import uk_moment

CSV_MEMBER = "events.csv"
README_MEMBER = "README.txt"
KEY_MEMBER = "checkpoint-key.pem"
EVIDENCE_MEMBER = "evidence.jsonl"

# The first column is for people (UK time, as GOV.UK writes it); the exact instant stays, in
# UTC, under a name for machines.
UK_TIME_COLUMN = "occurred (UK time)"
PROVEN_COLUMN = "in the tree head"
PROVEN, WAITING = "yes", "no: recorded after the tree head (not yet provable)"
CSV_HEADER = [
    UK_TIME_COLUMN,
    *("occurred_at_utc" if name == "occurred_at" else name for name in FIELDS),
    "leaf_index",
    "leaf_hash",
    PROVEN_COLUMN,
]

README = """Audit trail export from the partner delegation portal.

events.csv         the events that matched the filters, one per row (the first column is
                   when each happened in UK time, occurred_at_utc the exact instant in UTC,
                   ISO 8601), with each event's leaf in the audit log's Merkle tree; the last
                   column says whether the event is in the signed tree head below or was
                   recorded after it (listed, not yet provable: export again later)
evidence.jsonl     the same events with an inclusion proof for each to the signed tree head,
                   the head's signed note and what witnessed it, to check offline
checkpoint-key.pem the public key the tree head is signed with

To check the export, without the database:

    portal audit verify-export audit-export.zip --public-key PUBLISHED-KEY.pem
        --tsa-root TSA-ROOT.pem

It checks the tree head's signature, recomputes each event's leaf from its fields and walks
its proof to the signed root, checks the TSA's time-stamp token on the head, and that
events.csv, this README and checkpoint-key.pem are exactly what the export wrote for those
events. Or upload the ZIP on the portal's "Check an audit export" page.

Use the key published by the council (GET /.well-known/audit-checkpoint-key.pem) and the
root certificate of the council's time-stamping authority, not only the copies in this
file: the copies prove the file is consistent, the published ones that the council signed
it and the TSA saw it.

Log: {origin}. Key id: {key_id}.
Tree head: {size}, signed {signed_at} (UK time).
{witnessed}
Events: {proven} in the tree head{waiting}.

"Intact" proves the events in the export are authentic, unaltered, and in the council's
audit log as it stood at that tree head. It does not prove that no matching event was left
out: the filters are not signed.
"""


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


@dataclass(frozen=True)
class ReadmeFacts:
    """What the README says about the export, from its evidence header and counts."""

    origin: str
    key_id: str
    size: int
    signed_at: datetime
    store_at: datetime | None
    tsa_at: datetime | None
    proven: int
    waiting: int


def readme_facts(header: dict[str, Any], size: int, proven: int, waiting: int) -> ReadmeFacts:
    """The README's facts from the evidence header (the export's and the check's alike):
    raises KeyError, TypeError or ValueError for a header that cannot be read."""
    checkpoint = header["checkpoint"]
    seen = {
        w["witness"]: datetime.fromisoformat(w["witnessed_at"]) for w in checkpoint["witnesses"]
    }
    return ReadmeFacts(
        origin=str(header["log"]["origin"]),
        key_id=str(checkpoint["key_id"]),
        size=size,
        signed_at=datetime.fromisoformat(checkpoint["signed_at"]),
        store_at=seen.get("store"),
        tsa_at=seen.get("tsa"),
        proven=proven,
        waiting=waiting,
    )


def readme_text(facts: ReadmeFacts) -> str:
    return README.format(
        origin=facts.origin,
        key_id=facts.key_id,
        size=events_said(facts.size),
        signed_at=uk_moment(facts.signed_at, seconds=True),
        witnessed=_witnessed(facts.store_at, facts.tsa_at),
        proven=facts.proven,
        waiting=(
            f"; {facts.waiting} recorded after it, listed but not yet provable"
            if facts.waiting
            else ""
        ),
    )


def _witnessed(store_at: datetime | None, tsa_at: datetime | None) -> str:
    if store_at is None and tsa_at is None:
        return "Witnessed: not yet when exported (no witnessed tree head existed)."
    parts = []
    if store_at is not None:
        parts.append(f"held by the checkpoint store since {uk_moment(store_at, seconds=True)}")
    if tsa_at is not None:
        parts.append(f"time-stamped by the TSA at {uk_moment(tsa_at, seconds=True)}")
    return "Witnessed: " + " and ".join(parts) + " (UK time)."


def events_said(count: int) -> str:
    return f"{count} event" if count == 1 else f"{count} events"


def csv_writer(target: TextSink) -> Any:
    """The CSV writer both sides use (its dialect decides the bytes), header written."""
    writer = csv.writer(target)
    writer.writerow(CSV_HEADER)
    return writer


def csv_cells(fields: dict[str, Any], leaf_index: int | None, leaf: bytes) -> list[Any]:
    """One event's row, from the fields its leaf covers (portal/audit/record.event_fields, or
    the same fields read back from the evidence file); `leaf_index` None for an event recorded
    after the tree head."""
    named = {**fields, "details": _details_text(fields["details"])}
    occurred = uk_moment(datetime.fromisoformat(fields["occurred_at"]), seconds=True)
    place = ["" if leaf_index is None else leaf_index, leaf.hex()]
    status = WAITING if leaf_index is None else PROVEN
    cells = [occurred, *(named[name] for name in FIELDS), *place, status]
    return [_inert(cell) for cell in cells]


def _inert(cell: Any) -> Any:
    """A cell a spreadsheet will not run as a formula: text recorded from requests (the user
    agent, say) may start with =, +, -, @ or a control character."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def _details_text(details: Any) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"))
