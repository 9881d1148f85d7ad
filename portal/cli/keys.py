"""Keys and secrets: `portal keys …` and `portal secret-key …`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.cli.base import CommandError, app_context, cli
from portal.cli.progress import Progress
from portal.config import ConfigError, load_settings
from portal.private_files import write_new_private_file

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from portal.crypto.rotation import VersionStatus

BATCH_SIZE = click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Data keys rewrapped per transaction.",
)


@cli.group(help="Key-encryption keys, held outside the database.")
def keys() -> None:
    pass


@keys.command("create", help="Create a new keyring file (mode 600).")
@click.option("--path", type=click.Path(path_type=Path), help="Default: the configured path.")
def keys_create(path: Path | None) -> None:
    from portal.crypto import FileKeyring

    target = path or load_settings().keyring.path
    FileKeyring.create(target)
    click.echo(f"Created keyring {target}. Back it up apart from the database's backups.")


@keys.command("register", help="Record the keyring's check value in the database.")
def keys_register() -> None:
    from portal import db
    from portal.audit import AuditAction, record_event
    from portal.crypto import runtime
    from portal.crypto.keycheck import register_keyring, verify_keyring

    with app_context() as app, db.database(app).sessions.begin() as db_session:
        keyring = runtime.keyring(app)
        added = register_keyring(db_session, keyring)
        for version in added:
            record_event(
                db_session,
                AuditAction.KEYRING_REGISTERED,
                object_type="key_version",
                object_id=str(version),
            )
        verify_keyring(db_session, keyring)
    click.echo(f"Registered key versions: {added or 'none new'}. The keyring matches the database.")


@keys.command("check", help="Check that the keyring belongs to the database.")
def keys_check() -> None:
    from portal import db
    from portal.crypto import runtime
    from portal.crypto.keycheck import verify_keyring

    with app_context() as app, db.database(app).sessions() as db_session:
        verify_keyring(db_session, runtime.keyring(app))
    click.echo("The keyring matches the database.")


@contextmanager
def _key_change() -> Iterator[tuple[Path, sessionmaker[Session]]]:
    """The keyring file and the database, for a change of key versions; refusals as one
    sentence on stderr."""
    from portal import db
    from portal.crypto import KeyringError
    from portal.crypto.rotation import KeyChangeRefused

    with app_context() as app:
        try:
            yield app.config["PORTAL_SETTINGS"].keyring.path, db.database(app).sessions
        except (KeyChangeRefused, KeyringError) as error:
            raise CommandError(str(error)) from None


@keys.command("rotate", help="Add a new key version, make it active, rewrap every data key.")
@click.option(
    "--stage",
    is_flag=True,
    help="Only add the version, not active yet: on several hosts, copy the keyring to each "
    "first, then `portal keys activate VERSION`.",
)
@click.option("--no-rewrap", is_flag=True, help="Leave rewrapping to `portal keys rewrap`.")
@BATCH_SIZE
def keys_rotate(stage: bool, no_rewrap: bool, batch_size: int) -> None:
    from portal.crypto.rotation import add_version

    with _key_change() as (path, sessions):
        version = add_version(path, sessions, activate=not stage)
        if stage:
            click.echo(
                f"Added key version {version} to {path}, not active yet. Back the keyring file "
                "up now, copy it to every other host, and once each has reloaded it run "
                f"`portal keys activate {version}`."
            )
            return
        click.echo(
            f"Added key version {version} to {path}: new data keys are wrapped under it. Back "
            "the keyring file up now: older backups of it cannot read data under this version."
        )
        if no_rewrap:
            click.echo("Run `portal keys rewrap` to move the existing data keys to it.")
            return
        _rewrap(path, sessions, batch_size)


@keys.command("activate", help="Make a staged key version the one new data keys use.")
@click.argument("version", type=click.IntRange(min=1))
def keys_activate(version: int) -> None:
    from portal.crypto.rotation import activate_version

    with _key_change() as (path, sessions):
        activate_version(path, sessions, version)
    click.echo(
        f"Key version {version} is now active in {path}. Copy the keyring file to every other "
        "host, and once each has reloaded it run `portal keys rewrap`."
    )


@keys.command("rewrap", help="Rewrap every data key under the active key version (resumable).")
@BATCH_SIZE
def keys_rewrap(batch_size: int) -> None:
    with _key_change() as (path, sessions):
        _rewrap(path, sessions, batch_size)


def _rewrap(path: Path, sessions: sessionmaker[Session], batch_size: int) -> None:
    from portal.crypto import FileKeyring
    from portal.crypto.rewrap import rewrap_data_keys

    keyring = FileKeyring.load(path)  # the file as it is now, not as this process started
    with Progress("Rewrapping", unit="data keys") as progress:
        result = rewrap_data_keys(
            sessions, keyring, batch_size=batch_size, progress=progress.update
        )
    summary = f"Rewrapped {result.rewrapped} data keys under key version {result.active_version}"
    if result.skipped:
        summary += f"; {result.skipped} were shredded or rewrapped by another process meanwhile"
    click.echo(summary + ".")
    if result.remaining:
        raise CommandError(
            f"{result.remaining} data keys are still under older versions (written by processes "
            "that have not picked up the new keyring): check every host has it, then run "
            "`portal keys rewrap` again."
        )


@keys.command("retire", help="Remove a key version no data key uses any more.")
@click.argument("version", type=click.IntRange(min=1))
def keys_retire(version: int) -> None:
    from portal.crypto.rotation import retire_version

    with _key_change() as (path, sessions):
        retire_version(path, sessions, version)
    click.echo(
        f"Retired key version {version}: its key check is gone from the database and its key "
        f"from {path}. Copy the keyring file to every other host and back it up."
    )


@keys.command("status", help="Key versions, the active one, and the data keys under each.")
def keys_status() -> None:
    from portal.crypto.rotation import key_status

    with _key_change() as (path, sessions), sessions() as session:
        versions = key_status(path, session)
    click.echo(f"Keyring {path}")
    click.echo(f"{'version':<12}{'keyring':<10}{'registered':<12}{'data keys':>12}{'shredded':>12}")
    for status in versions:
        click.echo(_status_line(status))
    stale = sum(s.data_keys for s in versions if not s.active)
    if stale:
        click.echo(f"{stale} data keys are under older versions: run `portal keys rewrap`.")


def _status_line(status: VersionStatus) -> str:
    name = f"{status.version} (active)" if status.active else str(status.version)
    keyring = "yes" if status.in_keyring else "no"
    registered = "yes" if status.registered else "no"
    return f"{name:<12}{keyring:<10}{registered:<12}{status.data_keys:>12}{status.shredded:>12}"


@cli.group("secret-key", help="The secret that signs session cookies.")
def secret_key() -> None:
    pass


@secret_key.command("create", help="Write a new random secret key to PATH (mode 600).")
@click.option("--path", type=click.Path(path_type=Path), required=True)
def secret_key_create(path: Path) -> None:
    write_secret_key(path)
    click.echo(f"Created secret key {path}.")


def write_secret_key(path: Path) -> None:
    try:
        write_new_private_file(path, (secrets.token_urlsafe(48) + "\n").encode("ascii"))
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists: remove it first if you mean to replace it."
        ) from None
