"""The IG officer's verification and checkpoint pages, and `portal audit verify`: what they
show of the log's witnesses (the checkpoint store, the loopback TSA's time in UK time), the
damage they name, and the check each records for the next one to start from."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.tsa import LoopbackTsa
from portal import cli
from portal.audit import AuditAction, record_event
from portal.audit.signing import CheckpointSigner
from portal.audit.witness import check_timestamp
from portal.audit.witnessing import witnesses_from_settings
from portal.config import Settings
from portal.home import home_sections
from portal.models import AuditEvent, AuditTreeHead, AuditWitness, AuditWitnessRecord, Role
from portal.uk_time import uk_clock
from tests.conftest import TEST_LOG_ORIGIN, test_settings
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.log_checks import as_superuser, checkpoint, execute, record, witness


@pytest.fixture
def settings(
    engine: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    witness_directory: Path,
    tsa: LoopbackTsa,
    tmp_path: Path,
) -> Settings:
    """The test settings with the loopback TSA as the council's time-stamping authority."""
    root = tmp_path / "tsa-root.pem"
    root.write_bytes(tsa.trust_roots_pem)
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={
            "signing_key_file": str(audit_key_path),
            "witness_directory": str(witness_directory),
            "tsa_url": tsa.url,
            "tsa_certificate_file": str(root),
            "log_origin": TEST_LOG_ORIGIN,
        },
    )


@pytest.fixture
def signer(audit_key_path: Path) -> CheckpointSigner:
    return CheckpointSigner.load(audit_key_path)


@pytest.fixture
def ig_client(app: Flask, client: FlaskClient, db_session: Session) -> FlaskClient:
    officer = make_user(db_session, make_organisation(db_session), Role.IG_OFFICER)
    db_session.commit()
    sign_in(app, client, officer)
    return client


def witnessed_log(session: Session, signer: CheckpointSigner, settings: Settings) -> list[int]:
    """Five events in a checkpoint the store holds and the TSA stamped, then two more."""
    events = record(session, 5)
    checkpoint(session, signer, witnesses_from_settings(settings))
    events += record(session, 2)
    session.commit()
    return events


def latest_verified(session: Session) -> AuditEvent:
    session.expire_all()
    event = session.scalar(
        sa.select(AuditEvent)
        .where(AuditEvent.action == AuditAction.AUDIT_VERIFIED.value)
        .order_by(AuditEvent.seq.desc())
    )
    assert event is not None
    return event


def test_the_verification_page_shows_what_the_witnesses_vouch_for(
    ig_client: FlaskClient, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    witnessed_log(db_session, signer, settings)
    page = ig_client.get("/audit/verify").get_data(as_text=True)
    assert "The audit trail is intact" in page
    assert "Last witnessed checkpoint" in page and "5 events" in page
    # The two newer events and the officer's sign-in: in no witnessed checkpoint yet.
    assert "Events after the last witnessed checkpoint" in page
    details = latest_verified(db_session).details
    assert details["intact"] is True and details["last_witnessed"] == 5
    assert details["tree_size"] == 5 and details["events_after_witnessed"] >= 2


def test_the_verification_page_names_the_damage(
    ig_client: FlaskClient, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    events = witnessed_log(db_session, signer, settings)
    as_superuser(db_session)
    execute(db_session, "UPDATE audit_events SET case_reference = 'NCC-9' WHERE seq = :n",
            n=events[2])  # fmt: skip
    page = ig_client.get("/audit/verify").get_data(as_text=True)
    assert "The audit trail has been altered" in page
    assert "Damaged: changed" in page and f"Event {events[2]} was changed" in page
    assert latest_verified(db_session).details["damage"] == "changed"


def test_the_checkpoints_page_signs_now_and_shows_each_heads_witnesses(
    ig_client: FlaskClient,
    db_session: Session,
    settings: Settings,
    signer: CheckpointSigner,
    tsa: LoopbackTsa,
) -> None:
    record(db_session, 3)  # waiting for the sequencer: the button places them first
    db_session.commit()
    listing = ig_client.get("/audit/checkpoints").get_data(as_text=True)
    answer = ig_client.post("/audit/checkpoints", data={"csrf_token": csrf_token(listing)})
    assert answer.status_code == 302 and "signed=" in answer.headers["Location"]
    db_session.expire_all()
    head = db_session.scalar(sa.select(AuditTreeHead))
    assert head is not None
    page = ig_client.get(answer.headers["Location"]).get_data(as_text=True)
    assert f"Checkpoint signed of the first {head.tree_size} events" in page
    assert "Not yet" in page  # the sequencer has not handed it to the witnesses yet

    witness(db_session, witnesses_from_settings(settings), signer)
    db_session.commit()
    page = ig_client.get("/audit/checkpoints").get_data(as_text=True)
    assert "Holds it" in page
    token = db_session.scalar(
        sa.select(AuditWitnessRecord.token).where(
            AuditWitnessRecord.tree_size == head.tree_size,
            AuditWitnessRecord.witness == AuditWitness.TSA,
        )
    )
    assert token is not None
    stamped_at = check_timestamp(token, head.note.encode(), tsa.trust_roots_pem)
    # The TSA's time, in UK time as GOV.UK writes it.
    assert f'<td class="govuk-table__cell">{uk_clock(stamped_at)}</td>' in page


def test_the_checkpoint_list_takes_any_position_in_its_address(
    ig_client: FlaskClient, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    witnessed_log(db_session, signer, settings)
    for before in ("1", "-5", str(2**63 - 1), str(2**70), "x"):
        answer = ig_client.get(f"/audit/checkpoints?before={before}")
        assert answer.status_code == 200, before


@pytest.fixture
def portal_command(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


def test_the_verify_command_checks_all_then_only_what_is_new(
    portal_command: CliRunner, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    witnessed_log(db_session, signer, settings)
    intact = portal_command.invoke(cli.cli, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "Checked 5 events of 5 in the tree and 1 signed checkpoint." in intact.output
    assert "Last witnessed checkpoint: 5 events." in intact.output
    assert "2 events after it" in intact.output and "The log is intact." in intact.output
    recorded = latest_verified(db_session)
    assert recorded.actor_user_id is None and recorded.details["command"] is True
    assert recorded.details["tree_size"] == 5 and recorded.details["events_checked"] == 5
    officer = make_user(db_session, make_organisation(db_session), Role.IG_OFFICER)
    (home,) = home_sections(db_session, officer, date.today())
    checked = next(link.text for link in home.links if link.endpoint == "audit_evidence.verify")
    assert "by the portal audit verify command: intact, 5 events)" in checked

    # Four more events (the command's own record among them) in a witnessed checkpoint.
    record_event(db_session, AuditAction.SIGN_IN)
    size = checkpoint(db_session, signer, witnesses_from_settings(settings))
    db_session.commit()
    since = portal_command.invoke(cli.cli, ["audit", "verify", "--since-last"])
    assert since.exit_code == 0, since.output
    assert f"Checked {size - 5} events after the first 5 of {size}" in since.output


def test_the_verify_command_exits_1_naming_the_damage(
    portal_command: CliRunner, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    events = witnessed_log(db_session, signer, settings)
    as_superuser(db_session)
    execute(db_session, "DELETE FROM audit_events WHERE seq = :n", n=events[1])
    damaged = portal_command.invoke(cli.cli, ["audit", "verify"])
    assert damaged.exit_code == 1
    assert f"DAMAGED (deleted) at event {events[1]}" in damaged.output


def test_the_verify_command_without_witnesses_exits_3_saying_nothing_was_witnessed(
    app: Flask,
    portal_command: CliRunner,
    db_session: Session,
    signer: CheckpointSigner,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    witnessed_log(db_session, signer, settings)
    bare = settings.audit.model_copy(
        update={"witness_directory": None, "tsa_url": None, "tsa_certificate_file": None}
    )
    monkeypatch.setitem(app.config, "PORTAL_SETTINGS", settings.model_copy(update={"audit": bare}))
    unwitnessed = portal_command.invoke(cli.cli, ["audit", "verify"])
    assert unwitnessed.exit_code == 3, unwitnessed.output
    assert "SELF-CONSISTENT ONLY" in unwitnessed.output
    assert "nothing was checked against witnesses outside the database" in unwitnessed.output
    assert "The log is intact." not in unwitnessed.output


def test_since_last_without_a_trustworthy_earlier_check_checks_the_whole_log(
    portal_command: CliRunner, db_session: Session, signer: CheckpointSigner, settings: Settings
) -> None:
    witnessed_log(db_session, signer, settings)
    db_session.commit()
    since = portal_command.invoke(cli.cli, ["audit", "verify", "--since-last"])
    assert since.exit_code == 0, since.output
    assert "Checked the whole log: no earlier intact check" in since.output
