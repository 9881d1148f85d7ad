"""Checking a restored backup: `portal backup verify` (scripts/backup.sh makes backups and
scripts/restore.sh restores them, then runs this).

It proves the copy is usable with the keyring held apart from it: the keyring's check values,
the whole audit log against its signed checkpoints and their witnesses (a copy older than the
witnesses' newest checkpoint is reported: the events after it are not in the copy), and a
random sample of every sealed table's records and of the documents decrypted (and
discarded). It prints only counts, table names and row ids, never content, and writes
nothing: no audit event either, because the copy being checked must stay exactly what the
backup held (an event would also fork its log from the original's), and no person sees any
content.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.cli.base import app_context, cli
from portal.cli.progress import Progress

if TYPE_CHECKING:
    from pathlib import Path

    from portal.crypto import Keyring
    from portal.models import Attachment
    from portal.models.base import Sealed

DEFAULT_SAMPLE = 20


@dataclass
class Findings:
    """What the checks found: a line per check, and every problem."""

    problems: list[str] = field(default_factory=list)

    def ok(self, subject: str, text: str) -> None:
        click.echo(f"{subject + ':':<12}{text}")

    def fail(self, subject: str, text: str) -> None:
        self.problems.append(text)
        click.echo(f"{subject + ':':<12}FAILED: {text}", err=True)


@cli.group(help="Backups: check a restored copy (scripts/backup.sh and scripts/restore.sh).")
def backup() -> None:
    pass


@backup.command(
    "verify",
    help="Check a restored database and document store with this keyring and audit key: the "
    "key check, the whole audit log and its witnesses, and a sample of sealed records and "
    "documents decrypted. Prints counts only; exits 1 on any problem.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=DEFAULT_SAMPLE,
    show_default=True,
    help="Records decrypted per sealed table, and documents decrypted.",
)
def verify(sample: int) -> None:
    from portal import db

    findings = Findings()
    with app_context() as app, db.database(app).sessions() as session:
        check_copy(app, session, sample, findings)
    if findings.problems:
        click.echo(f"NOT VERIFIED: {len(findings.problems)} problem(s), listed above.", err=True)
        raise SystemExit(1)
    click.echo("VERIFIED: the copy is complete and readable with this keyring.")


def check_copy(app: Flask, session: Session, sample: int, findings: Findings) -> None:
    from portal.crypto import runtime

    _check_schema(session, findings)
    keyring_ok = _check_keyring(session, findings)
    _check_trail(session, findings)
    if not keyring_ok:
        findings.fail("decryption", "not attempted: the keyring does not belong to this database")
        return
    keyring = runtime.keyring(app)
    for model, columns in sealed_models():
        _check_sealed_table(session, keyring, model, columns, sample, findings)
    _check_documents(app, session, sample, findings)
    _check_safe_copies(app, session, sample, findings)


def _check_schema(session: Session, findings: Findings) -> None:
    from portal import schema

    current = schema.current_revision(session.connection())
    head = schema.head_revision()
    if current != head:
        findings.fail(
            "schema",
            f"the copy is at revision {current or 'none'} but this code needs {head}: check it "
            "with the release that made the backup, or run `portal db upgrade` first",
        )
        return
    findings.ok("schema", f"revision {current}, this code's head")


def _check_keyring(session: Session, findings: Findings) -> bool:
    from portal.crypto import KeyringError, runtime
    from portal.crypto.keycheck import verify_keyring

    keyring = runtime.keyring()
    try:
        verify_keyring(session, keyring)
    except KeyringError as error:
        findings.fail("keyring", str(error))
        return False
    versions = ", ".join(str(v) for v in sorted(keyring.versions()))
    findings.ok("keyring", f"matches the database (key versions {versions})")
    return True


def _check_trail(session: Session, findings: Findings) -> None:
    from flask import current_app

    from portal.audit.runtime import audit_keys
    from portal.audit.sequencer import tree_size
    from portal.audit.verify import verify_log
    from portal.audit.verify_report import summary_lines
    from portal.audit.witnessing import witnesses_from_settings

    settings = current_app.config["PORTAL_SETTINGS"]
    keys = audit_keys()
    with Progress("Checking the audit log", tree_size(session), "events") as progress:
        report = verify_log(
            session,
            keys.trusted,
            keys.origin,
            witnesses_from_settings(settings),
            progress.update,
            checkpoint_interval_seconds=settings.audit.checkpoint_interval_seconds,
        )
    damage = report.damage
    if damage is not None:
        hint = (
            ""
            if keys.trusted
            else " (no checkpoint key is configured: set [audit] signing_key_file or "
            "trusted_public_key_files)"
        )
        where = f" at event {damage.seq}" if damage.seq is not None else ""
        findings.fail("audit", f"DAMAGED ({damage.kind}){where}: {damage.explanation}{hint}")
        return
    findings.ok("audit", "intact. " + " ".join(summary_lines(report)))


def sealed_models() -> Iterator[tuple[type[Sealed], list[str]]]:
    """Every model with sealed columns, and the names of those columns (`*_enc`)."""
    from portal.models import Base
    from portal.models.base import Sealed

    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        model = mapper.class_
        if issubclass(model, Sealed):
            yield model, sorted(c.key for c in mapper.columns if c.key.endswith("_enc"))


def unkeyed_records(session: Session, model: type[Sealed], columns: list[str]) -> int:
    """Records holding sealed data without a data key: they can never be read."""
    holds_data = sa.or_(*(getattr(model, column).is_not(None) for column in columns))
    statement = sa.select(sa.func.count()).select_from(model)
    statement = statement.where(model.data_key_id.is_(None), holds_data)
    return int(session.scalar(statement) or 0)


def _check_sealed_table(
    session: Session,
    keyring: Keyring,
    model: type[Sealed],
    columns: list[str],
    sample: int,
    findings: Findings,
) -> None:
    from portal.crypto import CryptoError
    from portal.crypto.records import RecordCipher
    from portal.models.keys import DataKey

    table = str(getattr(model, "__tablename__"))  # noqa: B009 - typed as a plain attribute
    key_id = model.data_key_id
    total = int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
    shredded = int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(model)
            .join(DataKey, key_id == DataKey.id)
            .where(DataKey.wrapped_key.is_(None))
        )
        or 0
    )
    unkeyed = unkeyed_records(session, model, columns)
    if unkeyed:
        findings.fail("sealed", f"{table}: {unkeyed} records hold sealed data without a data key")
    readable = sa.select(model).join(DataKey, key_id == DataKey.id)
    readable = readable.where(DataKey.wrapped_key.is_not(None))
    sealed = int(session.scalar(sa.select(sa.func.count()).select_from(readable.subquery())) or 0)
    cipher = RecordCipher(keyring, session)
    opened = fields = 0
    for record in session.scalars(readable.order_by(sa.func.random()).limit(sample)).unique():
        try:
            for column in columns:
                fields += cipher.open_text(record, column) is not None
        except (CryptoError, UnicodeDecodeError):
            findings.fail("sealed", f"{table} record {record.id} does not decrypt")
            continue
        opened += 1
    findings.ok(
        "sealed",
        f"{table}: {total} records ({sealed} sealed, {shredded} shredded); {opened} decrypted, "
        f"{fields} fields",
    )


def _check_documents(app: Flask, session: Session, sample: int, findings: Findings) -> None:
    """Every readable document has its file, and a sample decrypts to its digest."""
    from portal.attachments import open_attachment
    from portal.attachments.store import stored_path
    from portal.crypto import runtime
    from portal.models import Attachment, ScanStatus

    settings = app.config["PORTAL_SETTINGS"].attachments
    # Only documents whose data key is live must have their file: a shredded one's (retention,
    # or a discarded draft) is deleted after that commit, so a backup may hold its row alone.
    files = _StoredFiles(
        check="documents",
        rows=Attachment.scan_status != ScanStatus.REFUSED,
        path=lambda attachment_id: stored_path(settings, attachment_id),
        chunks=lambda a: open_attachment(a, keyring=runtime.keyring(app), settings=settings),
        digest=lambda attachment: attachment.sha256,
        missing="attachment {} has no file in the store",
        undecryptable="attachment {} does not decrypt",
        different="attachment {} differs from its digest",
    )
    ids, present, checked, size = _check_stored_files(files, session, sample, findings)
    findings.ok(
        "documents",
        f"{ids} readable, {present} files present; {checked} decrypted ({size} bytes), "
        "digests match",
    )


def _check_safe_copies(app: Flask, session: Session, sample: int, findings: Findings) -> None:
    """Every ready safe copy of a readable document has its file (`<id>.safe.pdsf`), and a
    sample decrypts to its digest: a store restored without them would leave reviewers and
    the CMS delivery nothing to read."""
    from portal.attachments.safe_copies import open_safe_copy, safe_copy_path
    from portal.crypto import runtime
    from portal.models import Attachment, SafeCopyStatus

    settings = app.config["PORTAL_SETTINGS"].attachments
    files = _StoredFiles(
        check="safe copy",
        rows=Attachment.safe_status == SafeCopyStatus.READY,
        path=lambda attachment_id: safe_copy_path(settings, attachment_id),
        chunks=lambda a: open_safe_copy(a, keyring=runtime.keyring(app), settings=settings),
        digest=lambda attachment: attachment.safe_sha256,
        missing="attachment {} has no safe copy file",
        undecryptable="attachment {}'s safe copy does not decrypt",
        different="attachment {}'s safe copy differs",
    )
    ids, present, checked, _size = _check_stored_files(files, session, sample, findings)
    findings.ok(
        "safe copy",
        f"{ids} ready, {present} files present; {checked} decrypted, digests match",
    )


@dataclass(frozen=True)
class _StoredFiles:
    """One kind of encrypted file in the document store, as a backup check sees it."""

    check: str
    rows: sa.ColumnElement[bool]  # which attachments must have this file (besides a live key)
    path: Callable[[uuid.UUID], Path]
    chunks: Callable[[Attachment], Iterator[bytes]]
    digest: Callable[[Attachment], bytes | None]
    # What each failure says, "{}" standing for the attachment's id.
    missing: str
    undecryptable: str
    different: str


def _check_stored_files(
    files: _StoredFiles, session: Session, sample: int, findings: Findings
) -> tuple[int, int, int, int]:
    """Fail each attachment without its file and each sampled one that does not decrypt to
    its digest; (attachments, files present, sampled and matching, their bytes)."""

    from portal.attachments import AttachmentUnavailable
    from portal.crypto import CryptoError
    from portal.models import Attachment
    from portal.models.keys import DataKey

    query = (
        sa.select(Attachment)
        .join(DataKey, Attachment.data_key_id == DataKey.id)
        .where(DataKey.wrapped_key.is_not(None), files.rows)
    )
    ids: list[uuid.UUID] = list(session.scalars(query.with_only_columns(Attachment.id)))
    missing = {i for i in ids if not files.path(i).is_file()}
    for attachment_id in sorted(missing):
        findings.fail(files.check, files.missing.format(attachment_id))
    checked = size = 0
    for attachment in session.scalars(query.order_by(sa.func.random()).limit(sample)).unique():
        if attachment.id in missing:
            continue
        digest = hashlib.sha256()
        try:
            for chunk in files.chunks(attachment):
                digest.update(chunk)
        except (CryptoError, AttachmentUnavailable):
            findings.fail(files.check, files.undecryptable.format(attachment.id))
            continue
        expected = files.digest(attachment)
        if expected is not None and digest.digest() != expected:
            findings.fail(files.check, files.different.format(attachment.id))
            continue
        checked += 1
        size += attachment.size_bytes
    return len(ids), len(ids) - len(missing), checked, size
