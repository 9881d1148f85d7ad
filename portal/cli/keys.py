"""Keys and secrets: `portal keys …` and `portal secret-key …`."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from portal.cli.base import app_context, cli
from portal.config import ConfigError, load_settings
from portal.private_files import write_new_private_file


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
