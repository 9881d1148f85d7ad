"""The audit trail from the command line: `portal audit …`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.cli.base import app_context, cli
from portal.cli.progress import Progress
from portal.config import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask
    from sqlalchemy.orm import Session

    from portal.audit.export_verify import ExportVerdict
    from portal.audit.signing import CheckpointSigner
    from portal.audit.verify_report import VerificationReport


@cli.group(help="The tamper-evident audit trail: checkpoints, verification, evidence.")
def audit() -> None:
    pass


@audit.command("create-signing-key", help="Create the Ed25519 key that signs checkpoints.")
@click.option("--path", type=click.Path(path_type=Path), required=True)
def create_signing_key(path: Path) -> None:
    from portal.audit.signing import CheckpointSigner

    try:
        signer = CheckpointSigner.create(path)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists: a signing key is never overwritten (checkpoints signed "
            "with it would no longer verify)."
        ) from None
    click.echo(f"Created checkpoint signing key {path} (key id {signer.public.key_id}).")
    click.echo("Keep it outside the database and its backups; publish the public key.")


@audit.command("public-key", help="Print the checkpoint signing key's public half (PEM).")
def public_key() -> None:
    from portal.audit.runtime import audit_keys

    with app_context():
        signer = audit_keys().signer
        if signer is None:
            raise ConfigError(
                "No checkpoint signing key is configured: set [audit] signing_key_file."
            )
        click.echo(signer.public.pem, nl=False)


@audit.command(
    "checkpoint", help="Place waiting events in the tree, sign its head and witness it, now."
)
def checkpoint() -> None:
    from portal import db
    from portal.audit.checkpoints import sign_tree_head
    from portal.audit.runtime import audit_keys
    from portal.audit.sequencer import sequence_pending
    from portal.audit.witnessing import LogKeys, witness_pending, witnesses_from_settings

    with app_context() as app:
        keys = audit_keys()
        signer = _signer()
        witnesses = witnesses_from_settings(app.config["PORTAL_SETTINGS"])
        sessions = db.database(app).sessions
        with sessions.begin() as session:
            while sequence_pending(session).more:
                pass
            head = sign_tree_head(session, signer, keys.origin)
        if head is None:
            click.echo("The log is empty: nothing to sign.")
            return
        click.echo(f"Checkpoint of {head.tree_size} events (key {head.key_id}).")
        if witnesses.store is None and witnesses.tsa is None:
            return
        log_keys = LogKeys(keys.origin, keys.trusted)
        progress = witness_pending(sessions, witnesses.store, witnesses.tsa, log_keys)
        problem = progress.conflict or progress.unavailable
        if problem:
            # Signed all the same: the running sequencer hands it over once the witness answers.
            click.echo(f"{progress.waiting} checkpoints wait for a witness: {problem}", err=True)
        else:
            click.echo("Every checkpoint is witnessed.")


@audit.command(
    "sequencer",
    help="Run the audit log's sequencer until stopped: place committed events in the tree, "
    "sign its heads and hand them to the witnesses (one leads among several).",
)
def sequencer() -> None:
    from portal import db
    from portal.audit.runtime import audit_keys
    from portal.audit.sequencer_service import run_sequencer, sequencer_setup
    from portal.cli.base import stop_on_signals

    with app_context() as app:
        database = db.database(app)
        setup = sequencer_setup(
            database.engine,
            database.sessions,
            app.config["PORTAL_SETTINGS"],
            _signer(),
            audit_keys().trusted,
        )
        with stop_on_signals() as stop:
            run_sequencer(setup, stop)
    click.echo("Stopped.")


def _signer() -> CheckpointSigner:
    from portal.audit.runtime import audit_keys

    signer = audit_keys().signer
    if signer is None:
        raise ConfigError("No checkpoint signing key is configured: set [audit] signing_key_file.")
    return signer


@audit.command(
    "verify",
    help="Check the log: every event against the tree, the tree against the signed checkpoints, "
    "the checkpoints against the witnesses outside the database.",
)
@click.option(
    "--since-last",
    is_flag=True,
    help="Check only the events added since the last check that found the log intact (when the "
    "witnessed tree vouches for that check's record; otherwise the whole log).",
)
@click.option(
    "--from-size",
    type=click.IntRange(min=0),
    help="Check only the events after the witnessed checkpoint of this many events.",
)
def verify(since_last: bool, from_size: int | None) -> None:
    from portal import db
    from portal.audit import AuditAction, record_event
    from portal.audit.sequencer import tree_size
    from portal.audit.verify_report import recorded_details, summary_lines

    with app_context() as app, db.database(app).sessions.begin() as session:
        with Progress("Checking the audit log", tree_size(session), "events") as progress:
            report = _verification(app, session, since_last, from_size, progress.update)
        # On the trail like the page's check (the IG home page says when and how it was last
        # checked), by the system: the command has no signed-in person.
        details = {**recorded_details(report), "command": True}
        record_event(session, AuditAction.AUDIT_VERIFIED, details=details)
    for line in summary_lines(report):
        click.echo(line)
    if (since_last or from_size) and report.from_size == 0:
        click.echo(
            "Checked the whole log: no earlier intact check, recorded in the tree before its "
            "last witnessed checkpoint, to start from."
            if since_last
            else "Checked the whole log: the store holds no witnessed checkpoint to start from."
        )
    damage = report.damage
    if damage is None and not (report.store_configured or report.tsa_configured):
        # Whoever can write the database can rewrite the log and sign it again with a stolen
        # key: without a witness, "intact" would claim more than was checked.
        click.echo(
            "SELF-CONSISTENT ONLY: the log agrees with its own checkpoints, but no witness is "
            "configured ([audit] witness_directory, tsa_url), so nothing was checked against "
            "witnesses outside the database.",
            err=True,
        )
        raise SystemExit(3)
    if damage is None:
        click.echo("The log is intact.")
        return
    where = f" at event {damage.seq}" if damage.seq is not None else ""
    click.echo(f"DAMAGED ({damage.kind}){where}: {damage.explanation}", err=True)
    raise SystemExit(1)


def _verification(
    app: Flask,
    session: Session,
    since_last: bool,
    from_size: int | None,
    progress: Callable[[int], None],
) -> VerificationReport:
    from portal.audit.runtime import audit_keys
    from portal.audit.verify import last_verified_size, verify_log, verify_since
    from portal.audit.witnessing import witnesses_from_settings

    settings = app.config["PORTAL_SETTINGS"]
    keys, witnesses = audit_keys(app), witnesses_from_settings(settings)
    interval = settings.audit.checkpoint_interval_seconds
    if not since_last and from_size is None:
        return verify_log(
            session, keys.trusted, keys.origin, witnesses, progress,
            checkpoint_interval_seconds=interval,
        )  # fmt: skip
    start = from_size if from_size is not None else last_verified_size(session)
    return verify_since(
        session, keys.trusted, keys.origin, witnesses, start, progress,
        checkpoint_interval_seconds=interval,
    )  # fmt: skip


@audit.command(
    "verify-export",
    help="Check an export offline (no database needed): the ZIP, or the evidence.jsonl in it.",
)
@click.argument("evidence", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--public-key",
    "key_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The published checkpoint key (PEM). Without it, the file's own copy is used.",
)
@click.option(
    "--tsa-root",
    "tsa_root_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="The time-stamping authority's root certificate (PEM). Without it, the file's own "
    "copy is used.",
)
def verify_export(evidence: Path, key_file: Path | None, tsa_root_file: Path | None) -> None:
    from portal.audit.export_verify import verify_export as check_export
    from portal.audit.signing import PublicKey, SigningKeyError

    try:
        key = PublicKey.from_pem(key_file.read_bytes()) if key_file else None
    except SigningKeyError as error:
        raise ConfigError(f"{key_file}: {error}") from None
    tsa_roots = tsa_root_file.read_bytes() if tsa_root_file else None
    # Read from disk a line at a time (the ZIP's members streamed): no size cap, bounded memory.
    with evidence.open("rb") as source:
        verdict = check_export(source, [key] if key else None, tsa_roots)
    if not verdict.intact:
        click.echo(f"NOT VERIFIED: {verdict.message}", err=True)
        raise SystemExit(1)
    said = f"{verdict.message}{_stamped(verdict.stamped_at)}"
    unsupplied = _unsupplied(verdict)
    if unsupplied:
        # Anyone can sign a file with a key of their own, or run a TSA of their own: without
        # the published key and root this proves only that the file is consistent.
        click.echo(
            f"SELF-CONSISTENT ONLY: {said} Checked with {' and '.join(unsupplied)}: pass "
            "--public-key with the council's published key and --tsa-root with the TSA's root "
            "certificate.",
            err=True,
        )
        raise SystemExit(3)
    click.echo(f"VERIFIED: {said} Key id {verdict.key_id}.")


def _stamped(moment: datetime | None) -> str:
    if moment is None:
        return " The tree head was not time-stamped when exported."
    from portal.uk_time import uk_moment

    return f" The TSA time-stamped the tree head on {uk_moment(moment, seconds=True)} (UK time)."


def _unsupplied(verdict: ExportVerdict) -> list[str]:
    """The file's own copies the check had to use (the key; the TSA's root, when it has a
    token)."""
    copies = []
    if not verdict.key_was_supplied:
        copies.append(f"the file's own copy of the key (key id {verdict.key_id})")
    if verdict.stamped_at is not None and not verdict.tsa_was_supplied:
        copies.append("the file's own copy of the TSA's certificate")
    return copies
