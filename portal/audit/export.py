"""Exporting a filtered range of the audit trail: a ZIP holding the events as CSV (to read),
the evidence file (to check, see evidence_file.py), the checkpoint key's public half, and a
README saying how to check it. Rows are read a batch at a time; the ZIP is spooled to a
temporary file past a few megabytes, so memory stays bounded whatever the range."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit.evidence_file import digest_line, event_line, header_line
from portal.audit.export_format import (
    CSV_MEMBER,
    EVIDENCE_MEMBER,
    KEY_MEMBER,
    README_MEMBER,
    csv_cells,
    csv_writer,
    readme_text,
)
from portal.audit.record import event_fields
from portal.models import AuditCheckpoint, AuditEvent
from portal.models.base import utcnow

BATCH = 2000
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ExportSummary:
    matched: int
    checkpoint_seq: int


def export_zip(
    session: Session,
    matches: sa.ColumnElement[bool],
    filters: dict[str, Any],
    checkpoint: AuditCheckpoint,
    public_key_pem: str,
) -> tuple[IO[bytes], ExportSummary]:
    """The export as a file object positioned at its start, and what it holds."""
    target: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(CSV_MEMBER, "w") as member:
            matched = _write_csv(session, matches, checkpoint.seq, member)
        with archive.open(EVIDENCE_MEMBER, "w") as member:
            _write_evidence(session, matches, filters, checkpoint, public_key_pem, member)
        archive.writestr(KEY_MEMBER, public_key_pem)
        archive.writestr(
            README_MEMBER, readme_text(checkpoint.key_id, checkpoint.seq, checkpoint.signed_at)
        )
    target.seek(0)
    return target, ExportSummary(matched, checkpoint.seq)


def _write_csv(
    session: Session, matches: sa.ColumnElement[bool], up_to: int, member: IO[bytes]
) -> int:
    text = io.TextIOWrapper(member, encoding="utf-8", newline="")
    writer = csv_writer(text)
    count = 0
    for event, _matched in _rows(session, sa.and_(matches, AuditEvent.seq <= up_to), 1, up_to):
        writer.writerow(csv_cells(event_fields(event), event.prev_hash, event.hash))
        count += 1
    text.flush()
    text.detach()
    return count


def _write_evidence(
    session: Session,
    matches: sa.ColumnElement[bool],
    filters: dict[str, Any],
    checkpoint: AuditCheckpoint,
    public_key_pem: str,
    member: IO[bytes],
) -> None:
    first = session.scalar(
        sa.select(sa.func.min(AuditEvent.seq)).where(matches, AuditEvent.seq <= checkpoint.seq)
    )
    prev_hash = (
        session.scalar(sa.select(AuditEvent.prev_hash).where(AuditEvent.seq == first))
        if first is not None
        else None
    )
    header = header_line(
        exported_at=utcnow(),
        filters=filters,
        checkpoint={
            "seq": checkpoint.seq,
            "head_hash": checkpoint.head_hash.hex(),
            "signed_at": checkpoint.signed_at.isoformat(timespec="microseconds"),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature.hex(),
        },
        public_key_pem=public_key_pem,
        first_seq=first,
        prev_hash=prev_hash,
    )
    member.write(header.encode("ascii"))
    if first is None:
        return
    for event, matched in _rows(session, sa.true(), first, checkpoint.seq, flag=matches):
        fields = event_fields(event)
        line = (
            event_line(event.seq, fields, event.hash) if matched else digest_line(event.seq, fields)
        )
        member.write(line.encode("ascii"))


def _rows(
    session: Session,
    where: sa.ColumnElement[bool],
    first: int,
    last: int,
    flag: sa.ColumnElement[bool] | None = None,
) -> Iterator[tuple[AuditEvent, bool]]:
    """Events with first <= seq <= last matching `where`, in order, with `flag` evaluated."""
    after = first - 1
    flag_column = sa.case((flag if flag is not None else sa.true(), True), else_=False)
    while True:
        batch = session.execute(
            sa.select(AuditEvent, flag_column.label("matched"))
            .where(where, AuditEvent.seq > after, AuditEvent.seq <= last)
            .order_by(AuditEvent.seq)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        for event, matched in batch:
            yield event, bool(matched)
            session.expunge(event)
        after = batch[-1][0].seq
