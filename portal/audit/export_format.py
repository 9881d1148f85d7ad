"""What an export ZIP's readable members hold, written once for both sides: the export writes
`events.csv` and `README.txt` with these functions (portal/audit/export.py), and the export
check rebuilds them from the evidence file with the same functions and compares them byte for
byte (portal/audit/export_verify.py). No database: the offline check uses it too."""

from __future__ import annotations

import csv
import json
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
CSV_HEADER = [
    UK_TIME_COLUMN,
    *("occurred_at_utc" if name == "occurred_at" else name for name in FIELDS),
    "prev_hash",
    "hash",
]

README = """Audit trail export from the partner delegation portal.

events.csv         the events that matched the filters, one per row, with their hashes; the
                   first column is when each happened in UK time, occurred_at_utc the exact
                   instant in UTC (ISO 8601)
evidence.jsonl     the same events with every event between the first of them and the
                   signed checkpoint, as digests, so the set can be checked offline
checkpoint-key.pem the public key the checkpoint is signed with

To check the export, without the database:

    portal audit verify-export audit-export.zip --public-key PUBLISHED-KEY.pem

It checks evidence.jsonl against the signed checkpoint, and that events.csv, this README and
checkpoint-key.pem are exactly what the export wrote for those events. It also takes the bare
evidence.jsonl (then only the evidence is checked). Or upload the ZIP on the portal's "Check
an audit export" page.

Use the key published by the council (GET /.well-known/audit-checkpoint-key.pem), not only
the copy in this ZIP: the copy proves the file is consistent, the published key that the
council signed it. Key id of the copy: {key_id}. Checkpoint: event {seq}, signed {signed_at}
(UK time).

"Intact" proves the events in the export are authentic and unaltered since that checkpoint.
It does not prove that no matching event was left out: the filters are not signed.
"""


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


def readme_text(key_id: str, seq: int, signed_at: datetime) -> str:
    return README.format(key_id=key_id, seq=seq, signed_at=uk_moment(signed_at, seconds=True))


def csv_writer(target: TextSink) -> Any:
    """The CSV writer both sides use (its dialect decides the bytes), header written."""
    writer = csv.writer(target)
    writer.writerow(CSV_HEADER)
    return writer


def csv_cells(fields: dict[str, Any], prev_hash: bytes, stored_hash: bytes) -> list[Any]:
    """One event's row, from the fields its hash covers (portal/audit/record.event_fields, or
    the same fields read back from the evidence file)."""
    named = {**fields, "details": _details_text(fields["details"])}
    occurred = uk_moment(datetime.fromisoformat(fields["occurred_at"]), seconds=True)
    cells = [occurred, *(named[name] for name in FIELDS), prev_hash.hex(), stored_hash.hex()]
    return [_inert(cell) for cell in cells]


def _inert(cell: Any) -> Any:
    """A cell a spreadsheet will not run as a formula: text recorded from requests (the user
    agent, say) may start with =, +, -, @ or a control character."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def _details_text(details: Any) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"))
