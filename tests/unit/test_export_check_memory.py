"""The export check's memory is bounded per line, not per file: a ZIP "bomb" of newlines is
refused after a little reading, and a genuine export of many events, each with its inclusion
proof, is checked whole within a few megabytes of peak allocation (tracemalloc), never the
file's size."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from portal.audit import merkle
from portal.audit.evidence_file import end_line, event_line, events_text, header_line, leaf_of
from portal.audit.export_format import csv_cells, csv_writer, readme_facts, readme_text
from portal.audit.export_verify import ExportVerdict, verify_export
from portal.audit.note import CheckpointBody, sign_note, verifier_key
from portal.audit.signing import CheckpointSigner

PEAK_LIMIT = 2 * 1024 * 1024


def checked(data: io.BytesIO, signer: CheckpointSigner | None) -> tuple[ExportVerdict, int]:
    data.seek(0)
    tracemalloc.start()
    try:
        verdict = verify_export(data, [signer.public] if signer else None)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return verdict, peak


def test_a_newline_bomb_is_refused_with_bounded_memory() -> None:
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("evidence.jsonl", "w") as member,
    ):
        for _ in range(80):  # 80 MB of newlines, about 80 KB compressed
            member.write(b"\n" * (1024 * 1024))
    assert len(bomb.getvalue()) < 200 * 1024
    verdict, peak = checked(bomb, None)
    assert not verdict.intact and "inflates far past what an export does" in verdict.message
    assert peak < PEAK_LIMIT, peak


ORIGIN = "portal.test/audit"


def event(seq: int) -> dict[str, Any]:
    """An event's fields, as the export writes them."""
    return {
        "seq": seq,
        "occurred_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC).isoformat(timespec="microseconds"),
        "actor_user_id": None,
        "actor_organisation_id": None,
        "actor_role": "system",
        "action": "sign_in",
        "object_type": None,
        "object_id": None,
        "case_reference": f"NCC-{seq}",
        "outcome": "success",
        "request_id": None,
        "client_address": None,
        "user_agent": None,
        "details": {"n": seq},
    }


def genuine_export(signer: CheckpointSigner, count: int) -> io.BytesIO:
    """An export of `count` events, every one in the signed tree head with its proof."""
    fields = [event(seq) for seq in range(1, count + 1)]
    leaves = [leaf_of(one) for one in fields]
    perfect = merkle.in_memory(leaves)
    note = sign_note(CheckpointBody(ORIGIN, count, merkle.root(count, perfect)), signer, ORIGIN)
    signed_at = datetime(2026, 12, 1, 9, 31, tzinfo=UTC)
    header = header_line(
        exported_at=signed_at,
        filters={"action": "sign_in"},
        log={
            "origin": ORIGIN,
            "verifier_key": verifier_key(ORIGIN, signer.public),
            "public_key": signer.public.pem,
        },
        checkpoint={
            "note": note,
            "key_id": signer.public.key_id,
            "signed_at": signed_at.isoformat(timespec="microseconds"),
            "witnesses": [],
        },
        tsa_roots_pem=None,
    )
    target, rows = io.BytesIO(), io.StringIO()
    writer = csv_writer(rows)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("evidence.jsonl", "w") as member:
            member.write(header.encode())
            for index, (one, leaf) in enumerate(zip(fields, leaves, strict=True)):
                proof = merkle.inclusion_proof(index, count, perfect)
                member.write(event_line(one, index, proof).encode())
                writer.writerow(csv_cells(one, index, leaf))
            member.write(end_line(count, 0).encode())
        archive.writestr("events.csv", rows.getvalue())
        archive.writestr("checkpoint-key.pem", signer.public.pem)
        facts = readme_facts(json.loads(header), count, count, 0)
        archive.writestr("README.txt", readme_text(facts))
    return target


def test_many_events_of_a_genuine_export_check_in_bounded_memory(tmp_path: Path) -> None:
    signer = CheckpointSigner.create(tmp_path / "key.pem")
    export = genuine_export(signer, 20_000)
    with zipfile.ZipFile(export) as archive:
        assert archive.getinfo("evidence.jsonl").file_size > 4 * PEAK_LIMIT
    verdict, peak = checked(export, signer)
    assert verdict.intact, verdict.message
    assert verdict.message.startswith("20000 events proven in the signed tree head of 20000")
    assert peak < PEAK_LIMIT, peak


def test_counts_of_events_are_said_in_words_people_write() -> None:
    assert events_text(1) == "1 event" and events_text(0) == "0 events"
    assert events_text(2) == "2 events"
