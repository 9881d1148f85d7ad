"""The demo: `portal demo …` (never for production)."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from portal.cli.base import app_context, cli
from portal.cli.keys import write_secret_key
from portal.config import ConfigError, load_settings
from portal.private_files import write_new_private_file


@cli.group(help="The demo: fictional data, never for production.")
def demo() -> None:
    pass


@demo.command(
    "prepare", help="Create the demo's secret key, keyring and client secrets if missing."
)
def demo_prepare() -> None:
    from portal.audit.signing import CheckpointSigner
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
    signing_key = settings.audit.signing_key_file
    if signing_key is not None and not signing_key.exists():
        CheckpointSigner.create(signing_key)
        click.echo(f"Created audit checkpoint signing key {signing_key}.")
    made = prepare_client_secrets()
    if made:
        click.echo(f"Created {len(made)} client secrets for the demo's identity providers.")
    cms_secret = settings.cms.client_secret_file
    if cms_secret is not None and not cms_secret.exists():
        cms_secret.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_new_private_file(cms_secret, secrets.token_urlsafe(32).encode("ascii"))
        click.echo(f"Created the reference CMS's client secret {cms_secret}.")
    documents = settings.attachments.storage_directory
    if not documents.exists():
        # Made now, as an operator makes it for production, so readiness reports it from the start.
        documents.mkdir(parents=True, mode=0o700)
        click.echo(f"Created the document store {documents}.")
    witness = settings.audit.witness_directory
    if witness is not None and not witness.exists():
        # The audit checkpoints' store outside the database: production mounts another volume
        # there; the store itself never makes its directory (a missing volume is an outage).
        witness.mkdir(parents=True, mode=0o700)
        click.echo(f"Created the audit checkpoint store {witness}.")


@demo.command("seed", help="Add the fictional council, partners, children and users.")
def demo_seed() -> None:
    from portal import db
    from portal.auth.oidc.provider_spec import RegistryError
    from portal.demo.identity import demo_providers
    from portal.demo.seed import seed_demo_data

    with app_context() as app:
        if app.config["PORTAL_SETTINGS"].is_production:
            raise ConfigError("Demo data is never added in production.")
        try:
            providers = demo_providers()
        except RegistryError as error:
            raise ConfigError(f"{error} Run `portal demo prepare` first.") from None
        with db.database(app).sessions.begin() as db_session:
            summary = seed_demo_data(db_session, providers)
    click.echo(summary)


@demo.command("requests", help="Issue the demo's open requests for partners to answer (once).")
def demo_requests() -> None:
    from portal import db
    from portal.demo.open_requests import issue_demo_requests

    with app_context() as app:
        if app.config["PORTAL_SETTINGS"].is_production:
            raise ConfigError("Demo data is never added in production.")
        with db.database(app).sessions.begin() as db_session:
            click.echo(issue_demo_requests(db_session))


@demo.command(
    "oidc-config", help="Write the development OpenID provider's configuration (owner-only)."
)
@click.option("--output", type=click.Path(path_type=Path), required=True)
def demo_oidc_config(output: Path) -> None:
    import json

    from portal.demo.identity import demo_providers, dev_provider_config, unregistered_providers

    settings = load_settings()
    if settings.environment != "demo":
        raise ConfigError("`portal demo oidc-config` is for the demo only: set PORTAL_ENV=demo.")
    # The development provider serves the unregistered ones too: a school's provider exists
    # before the portal registers it.
    providers = [*demo_providers(), *unregistered_providers()]
    config = dev_provider_config(providers, settings.service.base_url)
    output.unlink(missing_ok=True)
    write_new_private_file(output, json.dumps(config, indent=2).encode("utf-8"))
    click.echo(f"Wrote {output} for {len(config['providers'])} identity providers.")


@demo.command("people", help="List the demo's people: one for every role.")
def demo_people() -> None:
    from portal.demo.seed import NEWCOMERS, PEOPLE

    for person in (*PEOPLE, *NEWCOMERS):
        roles = ", ".join(role.label for role in person.roles) or "(not yet approved)"
        click.echo(f"  {person.name:<20} {roles:<32} {person.organisation}")


@demo.command(
    "guide", help="Every sign-in address by role, what each can try, and the case references."
)
def demo_guide() -> None:
    from portal import db
    from portal.demo.guide import guide

    with app_context() as app, db.database(app).sessions() as db_session:
        click.echo(guide(db_session))


@demo.command(
    "to-register", help="What a portal admin enters to register the providers not yet registered."
)
def demo_to_register() -> None:
    from portal.demo.identity import registration_steps

    click.echo(registration_steps())
