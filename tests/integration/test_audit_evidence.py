"""The IG officer's evidence: verification page, checkpoints, exports checked offline, and the
`portal audit` commands."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.tsa import ROOT_FILE, LoopbackTsa, make_certificates
from portal import cli
from portal.audit import AuditAction, record_event
from portal.audit.chain import FIELDS
from portal.audit.evidence_file import (
    check_evidence,
    end_line,
    event_line,
    header_line,
    leaf_of,
    waiting_line,
)
from portal.audit.note import CheckpointBody, sign_note, verifier_key
from portal.audit.signing import CheckpointSigner, PublicKey
from portal.audit.witness import TimestampAuthority
from portal.config import Settings
from portal.models import AuditEvent, Role
from tests.conftest import both_backends
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.audit_export import settings_trusting_tsa, tsa_root_file, witnessed_head
from tests.support.audit_log import TEST_ORIGIN, sequence_all, settle


@pytest.fixture
def settings(
    engine: Engine, keyring_path: Path, audit_key_path: Path, tsa: LoopbackTsa
) -> Settings:
    return settings_trusting_tsa(engine, keyring_path, audit_key_path, tsa)


@pytest.fixture
def ig_client(app: Flask, client: FlaskClient, db_session: Session) -> FlaskClient:
    officer = make_user(db_session, make_organisation(db_session), Role.IG_OFFICER)
    db_session.commit()
    sign_in(app, client, officer)
    return client


def trail(db_session: Session) -> None:
    for case, action in (
        ("NCC-1", AuditAction.CHILD_DETAILS_VIEWED),
        ("NCC-2", AuditAction.CONTRIBUTION_VIEWED),
        ("NCC-1", AuditAction.ATTACHMENT_DOWNLOADED),
        (None, AuditAction.SIGN_IN),
        ("NCC-1", AuditAction.CONTRIBUTION_VIEWED),
    ):
        record_event(db_session, action, case_reference=case, details={"note": "code"})
    db_session.commit()


def actions(db_session: Session) -> list[str]:
    db_session.expire_all()
    return list(db_session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.seq)))


def export(ig_client: FlaskClient, query: str) -> zipfile.ZipFile:
    token = csrf_token(ig_client.get(f"/audit?{query}").get_data(as_text=True))
    with ig_client.post(f"/audit/export?{query}", data={"csrf_token": token}) as answer:
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        assert answer.headers["Content-Type"] == "application/zip"
        return zipfile.ZipFile(io.BytesIO(answer.data))


@pytest.fixture
def witnessed(
    db_session: Session, audit_key_path: Path, tsa: LoopbackTsa, tmp_path: Path
) -> Witnessed:
    """The trail, in a tree head the checkpoint store holds and the loopback TSA stamped."""
    trail(db_session)
    (tmp_path / "store").mkdir()
    witnessed_head(db_session, CheckpointSigner.load(audit_key_path), tsa, tmp_path / "store")
    return Witnessed(tsa)


class Witnessed:
    def __init__(self, tsa: LoopbackTsa) -> None:
        self.tsa = tsa


def evidence_lines(archive: zipfile.ZipFile) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    header, *lines = archive.read("evidence.jsonl").decode().splitlines()
    return json.loads(header), [json.loads(line) for line in lines]


@both_backends
def test_an_export_by_case_holds_the_case_and_verifies_offline(
    app: Flask, ig_client: FlaskClient, db_session: Session, witnessed: Witnessed
) -> None:
    archive = export(ig_client, "case_reference=NCC-1")
    assert set(archive.namelist()) == {
        "events.csv",
        "evidence.jsonl",
        "checkpoint-key.pem",
        "README.txt",
    }
    rows = archive.read("events.csv").decode().splitlines()
    # The three reads (in the tree head), and the IG officer's own search of the case just
    # before exporting (recorded after it: listed, marked, not proven).
    assert len(rows) == 1 + 4 and all("NCC-1" in row for row in rows[1:])
    assert [row.endswith(",yes") for row in rows[1:]] == [True, True, True, False]
    assert rows[4].endswith(",no: recorded after the tree head (not yet provable)")
    evidence = archive.read("evidence.jsonl").decode().splitlines()
    published = PublicKey.from_pem(
        app.test_client().get("/.well-known/audit-checkpoint-key.pem").data
    )
    report = check_evidence(evidence, published, tsa_roots=witnessed.tsa.trust_roots_pem)
    assert report.ok and report.events == 3 and report.waiting == 1, report.message
    assert report.key_was_supplied and report.tsa_was_supplied and report.stamped_at is not None
    assert report.tree_size == 5  # the five events of the trail
    header, entries = evidence_lines(archive)
    assert header["format"] == "portal-audit-evidence/2"
    assert header["log"]["verifier_key"].startswith("portal.test/audit+")
    assert {w["witness"] for w in header["checkpoint"]["witnesses"]} == {"store", "tsa"}
    assert [entry.get("leaf_index") for entry in entries[:-1]] == [0, 2, 4, None]
    assert entries[3]["waiting"] is True and "proof" not in entries[3]
    assert entries[-1] == {"end": {"proven": 3, "waiting": 1}}
    # Only the matching events travel: nothing of the others, not even a digest.
    assert "NCC-2" not in archive.read("evidence.jsonl").decode()
    readme = archive.read("README.txt").decode()
    assert "Tree head: 5 events, signed" in readme and "time-stamped by the TSA at" in readme
    assert "Events: 3 in the tree head; 1 recorded after it" in readme
    db_session.expire_all()
    recorded = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.AUDIT_EXPORTED.value)
    ).one()
    assert recorded.details["proven"] == 3 and recorded.details["waiting"] == 1
    assert recorded.details["tree_size"] == 5 and recorded.details["witnessed"] is True


@both_backends
def test_the_search_page_says_what_an_export_covers(
    ig_client: FlaskClient, db_session: Session, witnessed: Witnessed
) -> None:
    page = ig_client.get("/audit?case_reference=NCC-1").get_data(as_text=True)
    assert "signed tree head of 5 events, witnessed on" in page
    assert "recorded after it" not in page
    # That search was recorded (after the head, as the page was sent): it is waiting now.
    page = ig_client.get("/audit?case_reference=NCC-1").get_data(as_text=True)
    assert "1 matching event was recorded after it: listed in the download" in page
    record_event(db_session, AuditAction.CHILD_DETAILS_VIEWED, case_reference="NCC-1")
    db_session.commit()
    page = ig_client.get("/audit?case_reference=NCC-1").get_data(as_text=True)
    assert "3 matching events were recorded after it" in page
    # Placed in the tree after the head (that search too), and one the sequencer has yet to
    # place: both kinds counted, each once.
    sequence_all(db_session)
    record_event(db_session, AuditAction.CHILD_DETAILS_VIEWED, case_reference="NCC-1")
    db_session.commit()
    page = ig_client.get("/audit?case_reference=NCC-1").get_data(as_text=True)
    assert "5 matching events were recorded after it" in page


def test_without_a_signed_tree_head_there_is_nothing_to_export_yet(
    ig_client: FlaskClient, db_session: Session
) -> None:
    trail(db_session)
    page = ig_client.get("/audit?case_reference=NCC-1").get_data(as_text=True)
    assert "once the audit log’s first tree head is signed" in page
    assert 'action="/audit/export' not in page
    token = csrf_token(page)
    answer = ig_client.post("/audit/export?case_reference=NCC-1", data={"csrf_token": token})
    assert answer.status_code == 302 and "/audit?case_reference=NCC-1" in answer.headers["Location"]


def test_an_unwitnessed_head_is_used_while_none_is_witnessed_and_said(
    ig_client: FlaskClient, db_session: Session, audit_key_path: Path
) -> None:
    trail(db_session)
    settle(db_session, CheckpointSigner.load(audit_key_path))
    db_session.commit()
    assert "signed on" in ig_client.get("/audit?action=sign_in").get_data(as_text=True)
    archive = export(ig_client, "action=sign_in")
    assert "Witnessed: not yet when exported" in archive.read("README.txt").decode()
    report = check_evidence(archive.read("evidence.jsonl").decode().splitlines(), None)
    assert report.ok and report.events == 1 and report.stamped_at is None, report.message


def test_a_newer_unwitnessed_head_does_not_displace_the_witnessed_one(
    ig_client: FlaskClient, db_session: Session, audit_key_path: Path, witnessed: Witnessed
) -> None:
    record_event(db_session, AuditAction.SIGN_IN)
    db_session.commit()
    settle(db_session, CheckpointSigner.load(audit_key_path))  # a head of 6, not witnessed
    db_session.commit()
    archive = export(ig_client, "action=sign_in")
    header, entries = evidence_lines(archive)
    assert header["checkpoint"]["note"].split("\n")[1] == "5"
    assert entries[-1] == {"end": {"proven": 1, "waiting": 1}}


def edited(archive: zipfile.ZipFile, edit: str) -> list[str]:
    header, entries = evidence_lines(archive)
    proven = [i for i, entry in enumerate(entries) if "proof" in entry]
    first, second = entries[proven[0]], entries[proven[1]]
    if edit == "field":
        first["event"]["action"] = "sign_in"
    elif edit == "leaf index":
        first["leaf_index"] += 1
    elif edit == "swap two proofs":
        first["proof"], second["proof"] = second["proof"], first["proof"]
    elif edit == "drop a proof hash":
        first["proof"] = first["proof"][:-1]
    elif edit == "drop an event line":
        del entries[proven[1]]
    elif edit == "drop the end line":
        del entries[-1]
    elif edit == "swap two lines":
        entries[proven[0]], entries[proven[1]] = second, first
    elif edit == "TSA token":
        (tsa,) = (w for w in header["checkpoint"]["witnesses"] if w["witness"] == "tsa")
        token = bytearray(base64.b64decode(tsa["token"]))
        token[len(token) // 2] ^= 0x01
        tsa["token"] = base64.b64encode(bytes(token)).decode()
    elif edit == "tree head":
        note = header["checkpoint"]["note"]
        header["checkpoint"]["note"] = note.replace("\n5\n", "\n6\n", 1)
    return [json.dumps(header), *(json.dumps(entry) for entry in entries)]


EDITS = {
    "field": "Event {seq} (leaf {leaf}) does not lead to the signed tree head",
    "leaf index": "Event {seq} (leaf {next_leaf}) does not lead to the signed tree head",
    "swap two proofs": "Event {seq} (leaf {leaf}) does not lead to the signed tree head",
    "drop a proof hash": "Event {seq} (leaf {leaf}) does not lead to the signed tree head",
    "drop an event line": "end line does not count the events it holds",
    "drop the end line": "The file is cut short",
    "swap two lines": "The line for event {seq} is out of order",
    "TSA token": "The TSA's token on the tree head does not verify",
    "tree head": "The tree head's signature is not valid for key",
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_export_fails_the_offline_check_naming_what(
    ig_client: FlaskClient, witnessed: Witnessed, edit: str
) -> None:
    archive = export(ig_client, "case_reference=NCC-1")
    intact = check_evidence(edited(archive, "none"), None)
    assert intact.ok, intact.message
    report = check_evidence(edited(archive, edit), None)
    first = next(entry for entry in evidence_lines(archive)[1] if "proof" in entry)
    expected = EDITS[edit].format(
        seq=first["event"]["seq"], leaf=first["leaf_index"], next_leaf=first["leaf_index"] + 1
    )
    assert not report.ok and expected in report.message, report.message


def test_a_token_the_tsa_gave_for_another_note_fails(
    ig_client: FlaskClient, witnessed: Witnessed
) -> None:
    archive = export(ig_client, "case_reference=NCC-1")
    header, entries = evidence_lines(archive)
    other = TimestampAuthority(witnessed.tsa.url, witnessed.tsa.trust_roots_pem).stamp(b"other")
    for record in header["checkpoint"]["witnesses"]:
        if record["witness"] == "tsa":
            record["token"] = base64.b64encode(other).decode()
    lines = [json.dumps(header), *(json.dumps(entry) for entry in entries)]
    report = check_evidence(lines, None)
    assert not report.ok and "The token is over other data" in report.message


def test_a_waiting_event_is_listed_not_proven(ig_client: FlaskClient, witnessed: Witnessed) -> None:
    """An event recorded after the head carries no proof: the check counts and marks it, and
    says it is not proven, whatever its fields say."""
    archive = export(ig_client, "case_reference=NCC-1")
    header, entries = evidence_lines(archive)
    (waiting,) = (entry for entry in entries if entry.get("waiting"))
    assert waiting["event"]["action"] == AuditAction.AUDIT_SEARCHED.value
    report = check_evidence(archive.read("evidence.jsonl").decode().splitlines(), None)
    assert report.ok and report.waiting == 1
    assert "1 event recorded after it, listed but not yet provable" in report.message
    # Turning a proven line into a waiting one is a changed file, not a quieter one.
    first = next(entry for entry in entries if "proof" in entry)
    first["waiting"] = True
    lines = [json.dumps(header), *(json.dumps(entry) for entry in entries)]
    assert not check_evidence(lines, None).ok


def forged_evidence(
    signer: CheckpointSigner,
    tsa: LoopbackTsa | None,
    occurred_at: datetime,
    exported_at: datetime,
    waiting_seq: int | None = None,
) -> list[str]:
    """An evidence file of one event made with the signing key alone (a head of 1 event whose
    root is that event's leaf), its note stamped now by the real loopback TSA unless `tsa` is
    None, and optionally a waiting line with number `waiting_seq`."""
    fields: dict[str, Any] = dict.fromkeys(FIELDS)
    fields |= {"seq": 5, "occurred_at": occurred_at.isoformat(timespec="microseconds")}
    fields |= {"action": "sign_in", "outcome": "success", "details": {}}
    note = sign_note(CheckpointBody(TEST_ORIGIN, 1, leaf_of(fields)), signer, TEST_ORIGIN)
    witnesses = []
    if tsa is not None:
        token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(note.encode("utf-8"))
        witnesses = [{"witness": "tsa", "token": base64.b64encode(token).decode()}]
    log = {
        "origin": TEST_ORIGIN,
        "verifier_key": verifier_key(TEST_ORIGIN, signer.public),
        "public_key": signer.public.pem,
    }
    checkpoint = {"note": note, "key_id": signer.public.key_id, "witnesses": witnesses}
    lines = [
        header_line(
            exported_at=exported_at, filters={}, log=log, checkpoint=checkpoint, tsa_roots_pem=None
        ),
        event_line(fields, 0, []),
    ]
    if waiting_seq is not None:
        lines.append(waiting_line(fields | {"seq": waiting_seq, "action": "sign_out"}))
    return [*lines, end_line(1, int(waiting_seq is not None))]


@pytest.mark.parametrize(
    ("event_minutes", "exported_minutes", "failure"),
    [
        (-60, 1, None),
        (3, 10, None),  # within the clocks' skew
        (60, 120, "The TSA time-stamped the tree head before the newest event it proves"),
        (-60, -30, "The TSA time-stamped the tree head after the file says it was exported"),
    ],
)
def test_the_tsa_time_must_fall_between_the_newest_event_and_the_export(
    audit_key_path: Path,
    tsa: LoopbackTsa,
    event_minutes: int,
    exported_minutes: int,
    failure: str | None,
) -> None:
    """The head was stamped just now: events dated later than that (beyond a few minutes of
    skew), or an export dated before it, cannot be what the file says."""
    now = datetime.now(UTC)
    lines = forged_evidence(
        CheckpointSigner.load(audit_key_path),
        tsa,
        now + timedelta(minutes=event_minutes),
        now + timedelta(minutes=exported_minutes),
    )
    report = check_evidence(lines, None, tsa_roots=tsa.trust_roots_pem)
    if failure is None:
        assert report.ok and report.stamped_at is not None, report.message
    else:
        assert not report.ok and failure in report.message, report.message


def test_a_waiting_line_may_not_repeat_a_proven_events_number(
    audit_key_path: Path, tsa: LoopbackTsa
) -> None:
    signer, now = CheckpointSigner.load(audit_key_path), datetime.now(UTC)
    earlier, later = now - timedelta(hours=1), now + timedelta(minutes=1)
    roots = tsa.trust_roots_pem
    assert check_evidence(forged_evidence(signer, tsa, earlier, later, 6), None, None, roots).ok
    report = check_evidence(forged_evidence(signer, tsa, earlier, later, 5), None, None, roots)
    assert not report.ok
    assert "Event 5 is listed as recorded after the tree head, but is proven in it" in (
        report.message
    )


def test_a_head_without_a_token_is_not_verified_when_the_tsa_root_is_supplied(
    audit_key_path: Path, tsa: LoopbackTsa
) -> None:
    """Anyone holding the signing key can sign a head at any time; only the TSA's token dates
    it. Checked against the TSA's root, a head without one fails in plain words."""
    now = datetime.now(UTC)
    lines = forged_evidence(CheckpointSigner.load(audit_key_path), None, now, now)
    report = check_evidence(lines, None, tsa_roots=tsa.trust_roots_pem)
    assert not report.ok
    assert report.message.startswith("The tree head has no time-stamp from the TSA")
    alone = check_evidence(lines, None)  # no root: self-consistent, and said to be unstamped
    assert alone.ok and alone.stamped_at is None and not alone.tsa_was_supplied


def test_the_offline_command_needs_no_database_or_settings(
    ig_client: FlaskClient, tmp_path: Path, audit_key_path: Path, witnessed: Witnessed
) -> None:
    archive = export(ig_client, "action=contribution_viewed")
    archive.extractall(tmp_path)
    public = tmp_path / "published.pem"
    public.write_text(CheckpointSigner.load(audit_key_path).public.pem)
    tsa_root = str(tsa_root_file(witnessed.tsa))
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no PORTAL_* at all

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own interpreter and command
            [sys.executable, "-m", "portal.cli", "audit", "verify-export", *arguments],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    evidence = str(tmp_path / "evidence.jsonl")
    unkeyed = run(evidence)
    assert unkeyed.returncode == 3 and "SELF-CONSISTENT ONLY" in unkeyed.stderr
    assert "the file's own copy of the key" in unkeyed.stderr
    no_root = run(evidence, "--public-key", str(public))
    assert no_root.returncode == 3 and "own copy of the TSA's certificate" in no_root.stderr
    good = run(evidence, "--public-key", str(public), "--tsa-root", tsa_root)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("VERIFIED: 2 events proven in the signed tree head of 5")

    other = tmp_path / "other.pem"
    other.write_text(CheckpointSigner.create(tmp_path / "other-key.pem").public.pem)
    wrong_key = run(evidence, "--public-key", str(other), "--tsa-root", tsa_root)
    assert (
        wrong_key.returncode == 1 and "not a checkpoint key it was checked with" in wrong_key.stderr
    )
    make_certificates(tmp_path / "other-tsa")  # another TSA's root
    other_root = tmp_path / "other-tsa" / ROOT_FILE
    wrong_root = run(evidence, "--public-key", str(public), "--tsa-root", str(other_root))
    assert wrong_root.returncode == 1 and "TSA's token" in wrong_root.stderr

    path = tmp_path / "evidence.jsonl"
    path.write_text(path.read_text().replace("contribution_viewed", "sign_in", 1))
    changed = run(evidence, "--public-key", str(public), "--tsa-root", tsa_root)
    assert changed.returncode == 1 and changed.stderr.startswith("NOT VERIFIED")


@pytest.fixture
def portal_command(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


def test_the_audit_checkpoint_command_signs(portal_command: CliRunner, db_session: Session) -> None:
    trail(db_session)
    signed = portal_command.invoke(cli.cli, ["audit", "checkpoint"])
    assert signed.exit_code == 0 and "Checkpoint of 5 events" in signed.output
    again = portal_command.invoke(cli.cli, ["audit", "checkpoint"])
    assert "Checkpoint of 5 events" in again.output  # nothing new: nothing signed
    # `portal audit verify`: tests/integration/test_audit_verify_pages.py.


def test_a_signing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    runner = CliRunner()
    first = runner.invoke(cli.cli, ["audit", "create-signing-key", "--path", str(path)])
    assert first.exit_code == 0 and oct(path.stat().st_mode & 0o777) == "0o600"
    second = runner.invoke(cli.cli, ["audit", "create-signing-key", "--path", str(path)])
    assert second.exit_code != 0
