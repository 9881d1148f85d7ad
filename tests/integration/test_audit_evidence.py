"""The IG officer's evidence: verification page, checkpoints, exports checked offline, and the
`portal audit` commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import cli
from portal.audit import AuditAction, record_event
from portal.audit.evidence_file import check_evidence
from portal.audit.signing import CheckpointSigner, PublicKey
from portal.models import AuditEvent, Role
from tests.factories import csrf_token, make_organisation, make_user, sign_in


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


def test_an_export_by_case_holds_the_case_and_verifies_offline(
    app: Flask, ig_client: FlaskClient, db_session: Session
) -> None:
    trail(db_session)
    archive = export(ig_client, "case_reference=NCC-1")
    assert set(archive.namelist()) == {
        "events.csv",
        "evidence.jsonl",
        "checkpoint-key.pem",
        "README.txt",
    }
    rows = archive.read("events.csv").decode().splitlines()
    # The three reads, and the IG officer's own search of the case just before exporting.
    assert len(rows) == 1 + 4 and all("NCC-1" in row for row in rows[1:])
    evidence = archive.read("evidence.jsonl").decode().splitlines()
    published = PublicKey.from_pem(
        app.test_client().get("/.well-known/audit-checkpoint-key.pem").data
    )
    report = check_evidence(evidence, published)
    assert report.ok and report.events == 4 and report.key_was_supplied, report.message
    # The other events travel as digests only.
    assert "NCC-2" not in archive.read("evidence.jsonl").decode()
    exported = [e for e in actions(db_session) if e == AuditAction.AUDIT_EXPORTED.value]
    assert exported == [AuditAction.AUDIT_EXPORTED.value]


@pytest.mark.parametrize("edit", ["field", "hash", "drop a digest line", "swap two lines"])
def test_an_edited_export_fails_the_offline_check(
    ig_client: FlaskClient, db_session: Session, edit: str
) -> None:
    trail(db_session)
    lines = export(ig_client, "case_reference=NCC-1").read("evidence.jsonl").decode().splitlines()
    header, entries = lines[0], [json.loads(line) for line in lines[1:]]
    full = next(i for i, entry in enumerate(entries) if "event" in entry)
    if edit == "field":
        entries[full]["event"]["action"] = "sign_in"
    elif edit == "hash":
        entries[full]["hash"] = "00" * 32
    elif edit == "drop a digest line":
        del entries[next(i for i, entry in enumerate(entries) if "digest" in entry)]
    else:
        entries[0], entries[1] = entries[1], entries[0]
    edited = [header, *(json.dumps(entry) for entry in entries)]
    assert not check_evidence(edited, None).ok


def test_the_offline_command_needs_no_database_or_settings(
    ig_client: FlaskClient, db_session: Session, tmp_path: Path, audit_key_path: Path
) -> None:
    trail(db_session)
    archive = export(ig_client, "action=contribution_viewed")
    archive.extractall(tmp_path)
    public = tmp_path / "published.pem"
    public.write_text(CheckpointSigner.load(audit_key_path).public.pem)
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

    unkeyed = run(str(tmp_path / "evidence.jsonl"))
    assert unkeyed.returncode == 3 and "SELF-CONSISTENT ONLY" in unkeyed.stderr
    good = run(str(tmp_path / "evidence.jsonl"), "--public-key", str(public))
    assert good.returncode == 0 and good.stdout.startswith("VERIFIED: 2 events"), good.stderr

    other = tmp_path / "other.pem"
    other.write_text(CheckpointSigner.create(tmp_path / "other-key.pem").public.pem)
    wrong_key = run(str(tmp_path / "evidence.jsonl"), "--public-key", str(other))
    assert (
        wrong_key.returncode == 1 and "not a checkpoint key it was checked with" in wrong_key.stderr
    )

    evidence = tmp_path / "evidence.jsonl"
    evidence.write_text(evidence.read_text().replace("contribution_viewed", "sign_in", 1))
    edited = run(str(evidence), "--public-key", str(public))
    assert edited.returncode == 1 and edited.stderr.startswith("NOT VERIFIED")


@pytest.fixture
def portal_command(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


def test_the_audit_checkpoint_command_signs(portal_command: CliRunner, db_session: Session) -> None:
    trail(db_session)
    signed = portal_command.invoke(cli.cli, ["audit", "checkpoint"])
    assert signed.exit_code == 0 and "Checkpoint at event 6" in signed.output
    again = portal_command.invoke(cli.cli, ["audit", "checkpoint"])
    assert "Checkpoint at event 6" in again.output  # nothing new: nothing signed
    # `portal audit verify`: tests/integration/test_audit_verify_pages.py.


def test_a_signing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    runner = CliRunner()
    first = runner.invoke(cli.cli, ["audit", "create-signing-key", "--path", str(path)])
    assert first.exit_code == 0 and oct(path.stat().st_mode & 0o777) == "0o600"
    second = runner.invoke(cli.cli, ["audit", "create-signing-key", "--path", str(path)])
    assert second.exit_code != 0
