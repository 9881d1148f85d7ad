"""Checking an export: the ZIP the export page gives, from a real PostgreSQL trail whose tree
head is witnessed by the real loopback TSA, checked in the browser's page and by `portal audit
verify-export`, intact and damaged."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.tsa import LoopbackTsa
from portal.audit import AuditAction, export_check, record_event
from portal.audit.evidence_archive import MAX_LINE_CHARS
from portal.audit.export_verify import verify_export
from portal.audit.note import CheckpointBody, sign_note, verifier_key
from portal.audit.signing import CheckpointSigner
from portal.config import Settings
from portal.models import AuditEvent, Role
from portal.uk_time import uk_moment
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_export import settings_trusting_tsa, tsa_root_file, witnessed_head


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, tsa: LoopbackTsa
) -> Settings:
    return settings_trusting_tsa(engine, keyring_path, audit_key_path, tsa)


@pytest.fixture
def ig(
    app: Flask,
    client: FlaskClient,
    db_session: Session,
    audit_key_path: Path,
    tsa: LoopbackTsa,
    tmp_path: Path,
) -> FlaskClient:
    """An IG officer, and a trail of three events in a tree head the TSA witnessed."""
    officer = make_user(db_session, make_organisation(db_session), Role.IG_OFFICER)
    for case, action in (
        ("NCC-1", AuditAction.CHILD_DETAILS_VIEWED),
        ("NCC-2", AuditAction.CONTRIBUTION_VIEWED),
        ("NCC-1", AuditAction.ATTACHMENT_DOWNLOADED),
    ):
        record_event(db_session, action, case_reference=case, details={"note": "code"})
    db_session.commit()
    witnessed_head(db_session, CheckpointSigner.load(audit_key_path), tsa, tmp_path)
    sign_in(app, client, officer)
    return client


@pytest.fixture
def export_zip(ig: FlaskClient) -> bytes:
    """A real export of case NCC-1, as the export page gives it."""
    token = csrf_token(ig.get("/audit?case_reference=NCC-1").get_data(as_text=True))
    with ig.post("/audit/export?case_reference=NCC-1", data={"csrf_token": token}) as answer:
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/zip"
        return answer.data


BOUNDARY = "----export-check-test"


def multipart(token: str, data: bytes, name: str) -> bytes:
    """The body a browser sends: the token first, then the file."""
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="export"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def post(ig: FlaskClient, token: str, data: bytes, name: str) -> tuple[int, str]:
    answer = ig.post(
        "/audit/check-export",
        data=multipart(token, data, name),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    return answer.status_code, answer.get_data(as_text=True)


def check(ig: FlaskClient, data: bytes, name: str = "audit-export.zip") -> tuple[int, str]:
    token = csrf_token(ig.get("/audit/check-export").get_data(as_text=True))
    return post(ig, token, data, name)


def rezipped(original: bytes, change: dict[str, bytes | None]) -> bytes:
    """The export with members replaced (bytes) or removed (None)."""
    target = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(original)) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for name in source.namelist():
            content = change.get(name, source.read(name))
            if content is not None:
                out.writestr(name, content)
    return target.getvalue()


def last_event(db_session: Session) -> AuditEvent:
    db_session.expire_all()
    found = db_session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert found is not None
    return found


def test_an_intact_export_zip_verifies_and_the_check_is_recorded_with_counts_only(
    ig: FlaskClient, export_zip: bytes, db_session: Session
) -> None:
    readme = zipfile.ZipFile(io.BytesIO(export_zip)).read("README.txt").decode()
    assert "(UK time)" in readme and "+00:00" not in readme  # a document for people
    status, page = check(ig, export_zip)
    assert status == 200 and "The export is intact" in page
    # The two NCC-1 reads are in the witnessed tree head; the officer's search of the case
    # just before exporting was recorded after it: listed, not proven.
    assert "2 events proven in the signed tree head of 3 events" in page
    assert "1 event recorded after it, listed but not yet provable" in page
    # What "intact" proves, and what it does not (the filters are not signed).
    assert "in the council’s audit log as it stood at its signed tree head of 3 events" in page
    assert "which the time-stamping authority saw on" in page
    assert "does not prove that no matching event was left out" in page
    recorded = last_event(db_session)
    assert recorded.action == AuditAction.AUDIT_EXPORT_VERIFIED.value
    assert recorded.details["intact"] is True and recorded.details["events"] == 2
    assert recorded.details["waiting"] == 1 and recorded.details["tree_size"] == 3
    assert recorded.details["from_zip"] is True and recorded.details["time_stamped"] is True
    assert set(recorded.details) == {
        "intact",
        "events",
        "waiting",
        "tree_size",
        "time_stamped",
        "key_id",
        "from_zip",
        "differing",
    }
    assert recorded.details["differing"] is None


SWAPPED = {
    "events.csv": b"occurred (UK time),action\r\n1 December 2026 at 9am,sign_in\r\n",
    "README.txt": b"Audit trail export. Nothing to see here.\n",
    "checkpoint-key.pem": b"-----BEGIN PUBLIC KEY-----\nnot the key\n-----END PUBLIC KEY-----\n",
}


@pytest.mark.parametrize("member", sorted(SWAPPED))
def test_each_member_people_read_is_checked_against_the_evidence(
    ig: FlaskClient, export_zip: bytes, db_session: Session, member: str
) -> None:
    status, page = check(ig, rezipped(export_zip, {member: SWAPPED[member]}))
    assert status == 200 and "The export is intact" not in page
    assert "The export does not verify" in page and f"but {member} is not what" in page
    assert last_event(db_session).details["differing"] == member
    status, page = check(ig, rezipped(export_zip, {member: None}))  # removed
    assert "The export does not verify" in page and f"but {member} is not what" in page


def test_a_zip_whose_readable_members_were_all_swapped_names_every_one(
    ig: FlaskClient, export_zip: bytes, db_session: Session
) -> None:
    status, page = check(ig, rezipped(export_zip, dict(SWAPPED)))
    assert status == 200 and "The export is intact" not in page
    assert "but events.csv, README.txt and checkpoint-key.pem are not what the export" in page
    assert last_event(db_session).details["differing"] == "events.csv,README.txt,checkpoint-key.pem"


def test_one_row_of_the_csv_changed_is_caught(ig: FlaskClient, export_zip: bytes) -> None:
    rows = zipfile.ZipFile(io.BytesIO(export_zip)).read("events.csv")
    edited = rows.replace(b"attachment_downloaded", b"contribution_viewed", 1)
    assert edited != rows
    status, page = check(ig, rezipped(export_zip, {"events.csv": edited}))
    assert "but events.csv is not what the export wrote" in page


def test_the_csv_leads_with_uk_time_and_keeps_the_utc_instant_for_machines(
    export_zip: bytes,
) -> None:
    rows = list(
        csv.reader(io.StringIO(zipfile.ZipFile(io.BytesIO(export_zip)).read("events.csv").decode()))
    )
    assert rows[0][0] == "occurred (UK time)" and "occurred_at_utc" in rows[0]
    assert "occurred_at" not in rows[0]
    utc = rows[1][rows[0].index("occurred_at_utc")]
    assert utc.endswith("+00:00")
    assert rows[1][0] == uk_moment(datetime.fromisoformat(utc), seconds=True)
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4} at .+(am|pm|midday|midnight)", rows[1][0])


def test_one_byte_changed_in_the_evidence_fails_and_says_where(
    ig: FlaskClient, export_zip: bytes, db_session: Session
) -> None:
    evidence = zipfile.ZipFile(io.BytesIO(export_zip)).read("evidence.jsonl")
    edited = evidence.replace(b"attachment_downloaded", b"attachment_downloadeD", 1)
    assert edited != evidence
    status, page = check(ig, rezipped(export_zip, {"evidence.jsonl": edited}))
    assert status == 200 and "The export does not verify" in page
    assert "does not lead to the signed tree head: the event or its proof was changed" in page
    assert last_event(db_session).details["intact"] is False


def test_one_byte_changed_in_the_zip_itself_is_caught(ig: FlaskClient, export_zip: bytes) -> None:
    damaged = bytearray(export_zip)
    offset = export_zip.index(b"evidence.jsonl") + len("evidence.jsonl") + 40  # inside its data
    damaged[offset] ^= 0x01
    status, page = check(ig, bytes(damaged))
    assert status == 200 and "The export does not verify" in page


def test_a_zip_without_its_evidence_file_fails(ig: FlaskClient, export_zip: bytes) -> None:
    status, page = check(ig, rezipped(export_zip, {"evidence.jsonl": None}))
    assert "The export does not verify" in page and "The ZIP has no evidence.jsonl" in page


def test_a_file_that_is_not_a_zip_fails(ig: FlaskClient) -> None:
    status, page = check(ig, b"%PDF-1.7 not an export", "export.pdf")
    assert "The export does not verify" in page
    assert "neither an audit export ZIP nor" in page


def evidence_of(export: bytes) -> tuple[dict[str, Any], list[str]]:
    lines = zipfile.ZipFile(io.BytesIO(export)).read("evidence.jsonl").decode().splitlines()
    return json.loads(lines[0]), lines[1:]


def with_evidence(export: bytes, header: dict[str, Any], lines: list[str]) -> bytes:
    evidence = "\n".join([json.dumps(header), *lines]) + "\n"
    return rezipped(export, {"evidence.jsonl": evidence.encode()})


def test_an_export_whose_tree_head_another_key_signed_fails(
    ig: FlaskClient, export_zip: bytes, tmp_path: Path
) -> None:
    other = CheckpointSigner.create(tmp_path / "other.pem")
    header, lines = evidence_of(export_zip)
    origin = header["log"]["origin"]
    text = header["checkpoint"]["note"].split("\n\n")[0] + "\n"
    header["checkpoint"]["note"] = sign_note(CheckpointBody.parse(text), other, origin)
    header["checkpoint"]["key_id"] = other.public.key_id
    header["log"]["public_key"] = other.public.pem
    header["log"]["verifier_key"] = verifier_key(origin, other.public)
    # The other key's copy makes the file self-consistent: checked without a trusted key it
    # holds (the TSA's token is over the original note, though).
    alone = verify_export(io.BytesIO(with_evidence(export_zip, header, lines)), None)
    assert not alone.intact and "The TSA's token on the tree head does not verify" in alone.message
    status, page = check(ig, with_evidence(export_zip, header, lines))
    assert "The export does not verify" in page
    assert f"names key {other.public.key_id}" in page
    # Claiming the council's key id does not help: the signature is checked with that key.
    header["checkpoint"]["key_id"] = evidence_of(export_zip)[0]["checkpoint"]["key_id"]
    status, page = check(ig, with_evidence(export_zip, header, lines))
    assert "signature is not valid for key" in page


def without_the_tsa_token(export: bytes) -> bytes:
    """The export with the TSA's token taken out of its header, as someone holding the signing
    key would leave a head they signed later (the TSA would date it)."""
    header, lines = evidence_of(export)
    witnesses = header["checkpoint"]["witnesses"]
    header["checkpoint"]["witnesses"] = [w for w in witnesses if w["witness"] != "tsa"]
    return with_evidence(export, header, lines)


def test_an_export_without_the_tsa_token_is_not_verified_against_the_tsa_root(
    ig: FlaskClient, export_zip: bytes, tsa: LoopbackTsa, audit_key_path: Path
) -> None:
    """The page always checks with the council's TSA root (set in its settings): there, and
    wherever the root is supplied, a head without a token is not verified."""
    unstamped = without_the_tsa_token(export_zip)
    status, page = check(ig, unstamped)
    assert status == 200 and "The export does not verify" in page
    assert "The tree head has no time-stamp from the TSA" in page
    key = [CheckpointSigner.load(audit_key_path).public]
    rooted = verify_export(io.BytesIO(unstamped), key, tsa.trust_roots_pem)
    assert not rooted.intact and "no time-stamp from the TSA" in rooted.message
    # Without a root to check with, the evidence is only self-consistent and said to be
    # unstamped (the ZIP's README, which names the token, no longer matches it).
    evidence = zipfile.ZipFile(io.BytesIO(unstamped)).read("evidence.jsonl")
    alone = verify_export(io.BytesIO(evidence), key, None)
    assert alone.intact and alone.stamped_at is None and not alone.tsa_was_supplied


def test_no_file_or_an_empty_one_asks_for_the_zip(ig: FlaskClient) -> None:
    token = csrf_token(ig.get("/audit/check-export").get_data(as_text=True))
    status, page = post(ig, token, b"", "")  # the file input left empty
    assert status == 400 and "Select the export ZIP to check" in page
    status, page = check(ig, b"")
    assert status == 400 and "The selected file is empty" in page


def test_an_upload_over_the_cap_is_refused_and_sent_to_the_command(
    ig: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_check, "MAX_UPLOAD_BYTES", 1024 * 1024)
    status, page = check(ig, b"PK\x03\x04" + b"\0" * (1024 * 1024 + 1))
    assert status == 400 and "larger than 1 MB, too large to check on this page" in page
    assert "portal audit verify-export" in page


def test_the_upload_needs_the_forms_token(ig: FlaskClient, export_zip: bytes) -> None:
    status, page = post(ig, "forged", export_zip, "a.zip")
    assert status == 400 and "The export is intact" not in page


def verdict_of(data: bytes) -> str:
    return verify_export(io.BytesIO(data), None).message


def test_the_reader_refuses_unexpected_members_and_bombs(export_zip: bytes) -> None:
    assert "never holds: ../evil" in verdict_of(_with(export_zip))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("evidence.jsonl", b"{" + b" " * 5_000_000)
    assert "inflates far past what an export does" in verdict_of(bomb.getvalue())
    long_line = json.dumps({"format": "x", "pad": "a" * (MAX_LINE_CHARS + 10)}).encode()
    assert "longer than any line an export writes" in verdict_of(long_line)


def _with(original: bytes) -> bytes:
    target = io.BytesIO(original)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr("../evil", b"x")
    return target.getvalue()


def test_the_command_verifies_the_zip_itself(
    export_zip: bytes, tmp_path: Path, audit_key_path: Path, tsa: LoopbackTsa
) -> None:
    archive = tmp_path / "audit-export.zip"
    archive.write_bytes(export_zip)
    public = tmp_path / "published.pem"
    public.write_text(CheckpointSigner.load(audit_key_path).public.pem)
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and command
            [sys.executable, "-m", "portal.cli", "audit", "verify-export", str(path)]
            + ["--public-key", str(public), "--tsa-root", str(tsa_root_file(tsa))],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    good = run(archive)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("VERIFIED: 2 events proven in the signed tree head of 3 events")
    assert "The TSA time-stamped the tree head on" in good.stdout
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(rezipped(export_zip, {"evidence.jsonl": None}))
    missing = run(damaged)
    assert missing.returncode == 1 and "The ZIP has no evidence.jsonl" in missing.stderr
    swapped = tmp_path / "swapped.zip"
    swapped.write_bytes(rezipped(export_zip, dict(SWAPPED)))
    members = run(swapped)
    assert members.returncode == 1 and members.stderr.startswith("NOT VERIFIED")
    assert "events.csv, README.txt and checkpoint-key.pem are not what the export" in members.stderr
    unstamped = tmp_path / "unstamped.zip"
    unstamped.write_bytes(without_the_tsa_token(export_zip))
    refused = run(unstamped)
    assert refused.returncode == 1 and refused.stderr.startswith("NOT VERIFIED")
    assert "The tree head has no time-stamp from the TSA" in refused.stderr
    other = tmp_path / "notes.txt"
    other.write_text("not an export")
    assert run(other).returncode == 1


def test_the_bare_evidence_file_is_checked_too_past_the_ordinary_form_limit(
    ig: FlaskClient, export_zip: bytes
) -> None:
    evidence = zipfile.ZipFile(io.BytesIO(export_zip)).read("evidence.jsonl")
    padded = evidence + b"\n" * (2 * 1024 * 1024)  # over the 1 MB every other form has
    status, page = check(ig, padded, "evidence.jsonl")
    assert status == 200 and "The export is intact" in page
    assert "An evidence file" in page


def test_a_csv_bomb_beside_genuine_evidence_differs_and_is_not_read_whole(
    export_zip: bytes,
) -> None:
    target = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(export_zip)) as source,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for name in source.namelist():
            if name != "events.csv":
                out.writestr(name, source.read(name))
        with out.open("events.csv", "w") as member:
            for _ in range(50):
                member.write(b"\n" * (1024 * 1024))
    verdict = verify_export(io.BytesIO(target.getvalue()), None)
    assert not verdict.intact and verdict.differing == ("events.csv",)


def test_an_export_of_the_first_format_is_sent_to_the_release_that_made_it() -> None:
    """Hash-chain exports (before the Merkle log) are not read: the answer says what to do."""
    old = json.dumps({"format": "portal-audit-evidence/1", "checkpoint": {"seq": 3}}) + "\n"
    verdict = verify_export(io.BytesIO(old.encode()), None)
    assert not verdict.intact
    assert "This is not a portal-audit-evidence/2 file" in verdict.message
    assert "checked with the release that made it" in verdict.message
