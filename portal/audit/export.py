"""Exporting a filtered range of the audit trail: a ZIP holding the events as CSV (to read),
the evidence file (to check offline, see evidence_file.py), the checkpoint key's public half,
and a README saying how to check it.

The export proves its events against a tree head the sequencer already signed (export_scope.py
chooses it: the newest witnessed one), each with an inclusion proof (export_proofs.py); the
matching events recorded after that head are listed, marked as not yet provable. Both members
are written in one pass over the events, so the CSV and the evidence always hold the same
events even while new ones are recorded. Rows are read a batch at a time; the ZIP and the CSV
are spooled to temporary files past a few megabytes, so memory stays bounded whatever the
range.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.evidence_file import (
    end_line,
    event_line,
    header_line,
    leaf_of,
    waiting_line,
)
from portal.audit.export_format import (
    CSV_MEMBER,
    EVIDENCE_MEMBER,
    KEY_MEMBER,
    README_MEMBER,
    csv_cells,
    csv_writer,
    readme_facts,
    readme_text,
)
from portal.audit.export_proofs import ProofMaker
from portal.audit.export_scope import CoveringHead, in_head
from portal.audit.note import verifier_key
from portal.audit.record import event_fields
from portal.audit.signing import PublicKey
from portal.models import AuditEvent, AuditLeaf
from portal.models.base import utcnow

BATCH = 2000
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportSummary:
    proven: int  # matching events in the tree head, each with its proof
    waiting: int  # matching events recorded after it, listed, not yet provable
    tree_size: int
    witnessed: bool

    @property
    def matched(self) -> int:
        return self.proven + self.waiting


@dataclass(frozen=True)
class LogIdentity:
    """How a reader checks the log's tree heads: its name, its key, the TSA's certificate."""

    origin: str
    public_key: PublicKey
    tsa_roots_pem: str | None


def export_zip(
    session: Session,
    matches: sa.ColumnElement[bool],
    filters: dict[str, Any],
    covering: CoveringHead,
    log: LogIdentity,
) -> tuple[IO[bytes], ExportSummary]:
    """The export as a file object positioned at its start, and what it holds."""
    target: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        proven, waiting = _write_zip(
            session, matches, _header(filters, covering, log), covering, log, target
        )
    except BaseException:
        target.close()
        raise
    target.seek(0)
    return target, ExportSummary(proven, waiting, covering.tree_size, covering.witnessed)


def _write_zip(
    session: Session,
    matches: sa.ColumnElement[bool],
    header: str,
    covering: CoveringHead,
    log: LogIdentity,
    target: IO[bytes],
) -> tuple[int, int]:
    with (
        tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as csv_spool,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        with archive.open(EVIDENCE_MEMBER, "w") as member:
            proven, waiting = _write_events(session, matches, covering, header, member, csv_spool)
        csv_spool.seek(0)
        with archive.open(CSV_MEMBER, "w") as member:
            shutil.copyfileobj(csv_spool, member)
        archive.writestr(KEY_MEMBER, log.public_key.pem)
        facts = readme_facts(json.loads(header), covering.tree_size, proven, waiting)
        archive.writestr(README_MEMBER, readme_text(facts))
    return proven, waiting


def _header(filters: dict[str, Any], covering: CoveringHead, log: LogIdentity) -> str:
    head = covering.head
    witnesses = [
        {
            "witness": record.witness.value,
            "witnessed_at": record.witnessed_at.isoformat(timespec="microseconds"),
            **({"token": base64.b64encode(record.token).decode("ascii")} if record.token else {}),
        }
        for record in covering.witnesses
    ]
    return header_line(
        exported_at=utcnow(),
        filters=filters,
        log={
            "origin": log.origin,
            "verifier_key": verifier_key(log.origin, log.public_key),
            "public_key": log.public_key.pem,
        },
        checkpoint={
            "note": head.note,
            "key_id": head.key_id,
            "signed_at": head.signed_at.isoformat(timespec="microseconds"),
            "witnesses": witnesses,
        },
        tsa_roots_pem=log.tsa_roots_pem,
    )


def _write_events(
    session: Session,
    matches: sa.ColumnElement[bool],
    covering: CoveringHead,
    header: str,
    evidence: IO[bytes],
    csv_spool: IO[bytes],
) -> tuple[int, int]:
    """The evidence's lines and the CSV's rows, in one pass; returns (proven, waiting)."""
    text = io.TextIOWrapper(csv_spool, encoding="utf-8", newline="")
    writer = csv_writer(text)
    evidence.write(header.encode("ascii"))
    size = covering.tree_size
    maker = ProofMaker(session, size, covering.head.root_hash)
    proven = waiting = 0
    for batch in _proven_batches(session, matches, size):
        placed = [(fields["seq"], index, leaf_of(fields)) for fields, index in batch]
        for (fields, index), proof, (_, _, leaf) in zip(
            batch, maker.proofs(placed), placed, strict=True
        ):
            evidence.write(event_line(fields, index, proof).encode("ascii"))
            writer.writerow(csv_cells(fields, index, leaf))
        proven += len(batch)
    for fields in _waiting_events(session, matches, size):
        evidence.write(waiting_line(fields).encode("ascii"))
        writer.writerow(csv_cells(fields, None, leaf_of(fields)))
        waiting += 1
    evidence.write(end_line(proven, waiting).encode("ascii"))
    text.flush()
    text.detach()
    return proven, waiting


_EVENTS = AuditEvent.__table__


def _proven_batches(
    session: Session, matches: sa.ColumnElement[bool], size: int
) -> Iterator[list[tuple[dict[str, Any], int]]]:
    """The matching events in the head of `size` leaves, in tree order, a batch at a time."""
    after = -1
    while True:
        rows = session.execute(
            sa.select(_EVENTS, AuditLeaf.leaf_index.label("leaf_index"))
            .join(AuditLeaf, AuditLeaf.event_seq == _EVENTS.c.seq)
            .where(matches, AuditLeaf.leaf_index > after, AuditLeaf.leaf_index < size)
            .order_by(AuditLeaf.leaf_index)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield [(event_fields(row), int(row.leaf_index)) for row in rows]
        after = rows[-1].leaf_index


def _waiting_events(
    session: Session, matches: sa.ColumnElement[bool], size: int
) -> Iterator[dict[str, Any]]:
    """The matching events not in the head, by number: recorded after it."""
    after = 0
    while True:
        rows = session.execute(
            sa.select(_EVENTS)
            .where(matches, ~in_head(size), _EVENTS.c.seq > after)
            .order_by(_EVENTS.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            yield event_fields(row)
        after = rows[-1].seq
