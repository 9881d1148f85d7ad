"""The export check's memory is bounded per line, not per file: a ZIP "bomb" of newlines is
refused after a little reading, and a genuine-looking export of many small lines is checked
whole, each within a few megabytes of peak allocation (tracemalloc), never the file's size."""

from __future__ import annotations

import hashlib
import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from portal.audit.chain import GENESIS_HASH, checkpoint_message, link
from portal.audit.evidence_file import events_text, header_line
from portal.audit.export_format import CSV_HEADER, readme_text
from portal.audit.export_verify import ExportVerdict, verify_export
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


def genuine_export(signer: CheckpointSigner, lines: int) -> io.BytesIO:
    """An export of `lines` events, all outside the filters (digest lines), signed."""
    current, digests = GENESIS_HASH, []
    for seq in range(1, lines + 1):
        digest = hashlib.sha256(seq.to_bytes(8, "big")).digest()
        digests.append(digest)
        current = link(current, digest)
    signed_at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    signature = signer.sign(checkpoint_message(lines, current, signed_at))
    checkpoint = {
        "seq": lines,
        "head_hash": current.hex(),
        "signed_at": signed_at.isoformat(timespec="microseconds"),
        "key_id": signer.public.key_id,
        "signature": signature.hex(),
    }
    target = io.BytesIO()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("events.csv", ",".join(CSV_HEADER) + "\r\n")
        with archive.open("evidence.jsonl", "w") as member:
            header = header_line(
                exported_at=signed_at,
                filters={"action": "sign_in"},
                checkpoint=checkpoint,
                public_key_pem=signer.public.pem,
                first_seq=1,
                prev_hash=GENESIS_HASH,
            )
            member.write(header.encode())
            for seq, digest in enumerate(digests, start=1):
                member.write(digest_line_for(seq, digest).encode())
        archive.writestr("checkpoint-key.pem", signer.public.pem)
        archive.writestr("README.txt", readme_text(signer.public.key_id, lines, signed_at))
    return target


def digest_line_for(seq: int, digest: bytes) -> str:
    """As evidence_file.digest_line writes it, for a digest made up here."""
    return json.dumps({"digest": digest.hex(), "seq": seq}, separators=(",", ":")) + "\n"


def test_many_small_lines_of_a_genuine_export_check_in_bounded_memory(tmp_path: Path) -> None:
    signer = CheckpointSigner.create(tmp_path / "key.pem")
    export = genuine_export(signer, 150_000)
    with zipfile.ZipFile(export) as archive:
        assert archive.getinfo("evidence.jsonl").file_size > 2 * PEAK_LIMIT
    verdict, peak = checked(export, signer)
    assert verdict.intact, verdict.message
    assert verdict.message.startswith("0 events verified against the checkpoint signed at")
    assert peak < PEAK_LIMIT, peak


def test_counts_of_events_are_said_in_words_people_write() -> None:
    assert events_text(1) == "1 event" and events_text(0) == "0 events"
    assert events_text(2) == "2 events"
