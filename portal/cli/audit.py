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
    from portal.audit.export_verify import ExportVerdict
    from portal.audit.signing import CheckpointSigner


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


@audit.command("checkpoint", help="Place waiting events in the tree and sign its head now.")
def checkpoint() -> None:
    from portal import db
    from portal.audit.checkpoints import sign_tree_head
    from portal.audit.runtime import audit_keys
    from portal.audit.sequencer import sequence_pending

    with app_context() as app:
        keys = audit_keys()
        signer = _signer()
        with db.database(app).sessions.begin() as session:
            while sequence_pending(session).more:
                pass
            head = sign_tree_head(session, signer, keys.origin)
        if head is None:
            click.echo("The log is empty: nothing to sign.")
        else:
            click.echo(f"Checkpoint of {head.tree_size} events (key {head.key_id}).")


def _signer() -> CheckpointSigner:
    from portal.audit.runtime import audit_keys

    signer = audit_keys().signer
    if signer is None:
        raise ConfigError("No checkpoint signing key is configured: set [audit] signing_key_file.")
    return signer


@audit.command("verify", help="Recompute the chain and check every checkpoint.")
def verify() -> None:
    from portal import db
    from portal.audit import AuditAction, record_event
    from portal.audit.checkpoints import head_seq
    from portal.audit.evidence_file import events_text
    from portal.audit.runtime import audit_keys
    from portal.audit.verify import verify_trail

    with app_context() as app, db.database(app).sessions.begin() as session:
        with Progress("Checking the audit chain", head_seq(session), "events") as progress:
            report = verify_trail(session, audit_keys().trusted, progress.update)
        damage = report.damage
        # On the trail like the page's check (the IG home page says when and how it was last
        # checked), by the system: the command has no signed-in person.
        record_event(
            session,
            AuditAction.AUDIT_VERIFIED,
            details={
                "intact": damage is None,
                "events_checked": report.events_checked,
                "checkpoints_checked": report.checkpoints_checked,
                "damage": damage.kind if damage else None,
                "damage_seq": damage.seq if damage else None,
                "command": True,
            },
        )
    if damage is None:
        click.echo(
            f"The trail is intact: {events_text(report.events_checked)}, "
            f"{report.checkpoints_checked} signed checkpoints (the last at event "
            f"{report.last_checkpoint_seq})."
        )
        return
    click.echo(f"DAMAGED ({damage.kind}) at event {damage.seq}: {damage.explanation}", err=True)
    raise SystemExit(1)


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
