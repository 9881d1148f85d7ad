"""The `portal` command: migrations, keys, demo data and other operator tasks."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.engine import Engine

from portal import create_app, schema
from portal.config import ConfigError, load_settings
from portal.private_files import write_new_private_file

MAX_LINE = 100


@click.group(help="Operate the partner delegation portal. PORTAL_ENV picks the settings.")
def cli() -> None:
    pass


@contextmanager
def _app_context() -> Iterator[Flask]:
    app = create_app(check_database=False)
    with app.app_context():
        yield app


def _engine(app: Flask) -> Engine:
    from portal import db

    return db.database(app).engine


# -- database ---------------------------------------------------------------------------------


@cli.group(help="Database schema migrations (a deploy step; the portal never migrates itself).")
def db() -> None:
    pass


@db.command("upgrade", help="Migrate the database to REVISION (default: the latest).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    with _app_context() as app:
        click.echo(f"Migrating the database to {revision}…")
        schema.upgrade(_engine(app), revision)
        with _engine(app).connect() as connection:
            click.echo(f"The database is at revision {schema.current_revision(connection)}.")


@db.command("downgrade", help="Migrate the database back to REVISION.")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    with _app_context() as app:
        schema.downgrade(_engine(app), revision)
        click.echo(f"The database is at revision {revision}.")


@db.command("current", help="Show the database's revision and the code's.")
def db_current() -> None:
    with _app_context() as app, _engine(app).connect() as connection:
        click.echo(f"database: {schema.current_revision(connection) or 'empty'}")
        click.echo(f"code:     {schema.head_revision()}")


@db.command("revision", help="Write the next numbered migration from the models (developers).")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    with _app_context() as app:
        schema.new_revision(_engine(app), message)
        head = schema.head_revision()
        schema.HEAD_FILE.write_text(head + "\n", encoding="utf-8")
        click.echo(f"Wrote migration {head}; review it before committing.")


# -- keys and secrets ---------------------------------------------------------------------------


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

    with _app_context() as app, db.database(app).sessions.begin() as db_session:
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

    with _app_context() as app, db.database(app).sessions() as db_session:
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


# -- demo ---------------------------------------------------------------------------------------


@cli.group(help="The demo: fictional data, never for production.")
def demo() -> None:
    pass


@demo.command(
    "prepare", help="Create the demo's secret key, keyring and client secrets if missing."
)
def demo_prepare() -> None:
    from portal.crypto import FileKeyring
    from portal.demo.identity import prepare_client_secrets

    settings = load_settings()
    if settings.environment != "demo":
        raise ConfigError("`portal demo prepare` is for the demo only: set PORTAL_ENV=demo.")
    secret_file = settings.security.secret_key_file
    if secret_file is not None and not secret_file.exists():
        write_secret_key(secret_file)
        click.echo(f"Created secret key {secret_file}.")
    if not settings.keyring.path.exists():
        FileKeyring.create(settings.keyring.path)
        click.echo(f"Created keyring {settings.keyring.path}.")
    made = prepare_client_secrets()
    if made:
        click.echo(f"Created {len(made)} client secrets for the demo's identity providers.")


@demo.command("seed", help="Add the fictional council, partners, children and users.")
def demo_seed() -> None:
    from portal import db
    from portal.auth.oidc.registry import RegistryError
    from portal.demo.identity import demo_providers
    from portal.demo.seed import seed_demo_data

    with _app_context() as app:
        if app.config["PORTAL_SETTINGS"].is_production:
            raise ConfigError("Demo data is never added in production.")
        try:
            providers = demo_providers()
        except RegistryError as error:
            raise ConfigError(f"{error} Run `portal demo prepare` first.") from None
        with db.database(app).sessions.begin() as db_session:
            summary = seed_demo_data(db_session, providers)
    click.echo(summary)


@demo.command(
    "oidc-config", help="Write the development OpenID provider's configuration (owner-only)."
)
@click.option("--output", type=click.Path(path_type=Path), required=True)
def demo_oidc_config(output: Path) -> None:
    import json

    from portal.demo.identity import demo_providers, dev_provider_config

    settings = load_settings()
    if settings.environment != "demo":
        raise ConfigError("`portal demo oidc-config` is for the demo only: set PORTAL_ENV=demo.")
    config = dev_provider_config(demo_providers(), settings.service.base_url)
    output.unlink(missing_ok=True)
    write_new_private_file(output, json.dumps(config, indent=2).encode("utf-8"))
    click.echo(f"Wrote {output} for {len(config['providers'])} identity providers.")


@demo.command("people", help="List the demo's people: one for every role.")
def demo_people() -> None:
    from portal.demo.seed import NEWCOMERS, PEOPLE

    for person in (*PEOPLE, *NEWCOMERS):
        roles = ", ".join(role.label for role in person.roles) or "(not yet approved)"
        click.echo(f"  {person.name:<20} {roles:<32} {person.organisation}")


# -- inspection ---------------------------------------------------------------------------------


@cli.command("routes", help="List every route and who may use it.")
def routes() -> None:
    from portal.auth.policy import rule_for

    with _app_context() as app:
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            access = rule_for(app, rule.endpoint)
            methods = ",".join(sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}))
            who = access.description if access else "NOBODY (no access rule)"
            click.echo(f"{rule.rule:<32} {methods:<10} {who}"[:MAX_LINE])


def main() -> None:
    from portal.crypto import KeyringError

    try:
        cli(standalone_mode=True)
    except (ConfigError, KeyringError) as error:
        click.echo(f"portal: {error}", err=True)
        sys.exit(2)
