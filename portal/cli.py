"""The `portal` command: migrations, keys, demo data and other operator tasks."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal import create_app, schema
from portal.audit.record import SYSTEM
from portal.config import ConfigError, load_settings
from portal.models.organisations import ClientAuthMethod
from portal.private_files import write_new_private_file

if TYPE_CHECKING:
    from portal.crypto.records import RecordCipher

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


# -- identity providers -------------------------------------------------------------------------


class CommandError(click.ClickException):
    """Input the command cannot use: one sentence on stderr, exit code 2, no traceback."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"portal: {self.message}", err=True)


# Where each ProviderSpec field comes from on the command line, for error messages.
_IDP_OPTIONS = {
    "client_auth_method": "--client-auth",
    "client_secret": "--client-secret-file/--client-secret-stdin",
    "signing_algorithms": "--algorithm",
    "allowed_email_domains": "--email-domain",
    "allowed_tenants": "--tenant",
    "allowed_hosted_domains": "--hosted-domain",
    "required_acr_values": "--acr",
    "group_roles": "--group-role",
}


@contextmanager
def _idp_transaction() -> Iterator[tuple[Flask, Session, RecordCipher]]:
    """The app, and one database transaction committed only if the whole command succeeds."""
    from portal import db
    from portal.auth.oidc.registry import RegistryError
    from portal.crypto.records import RecordCipher
    from portal.crypto.runtime import keyring

    with _app_context() as app:
        store = db.session()
        try:
            yield app, store, RecordCipher(keyring(app), store)
            store.commit()
        except RegistryError as error:
            raise CommandError(f"{error} Nothing was changed.") from None
        finally:
            store.close()  # rolls back whatever was not committed


@cli.group(help="Organisations' identity providers (OpenID Connect), as on the admin pages.")
def idp() -> None:
    pass


@idp.command("add", help="Add an organisation's identity provider.")
@click.option("--organisation", required=True, help="The organisation's name, exactly.")
@click.option("--slug", required=True, help="Names the provider in the portal's addresses.")
@click.option("--issuer", required=True, help="The provider's issuer URL (https).")
@click.option("--client-id", required=True, help="The portal's client ID at the provider.")
@click.option("--display-name", help="Shown on the sign-in pages. Default: the organisation.")
@click.option(
    "--client-auth",
    type=click.Choice([method.value for method in ClientAuthMethod]),
    default=ClientAuthMethod.CLIENT_SECRET_BASIC.value,
    show_default=True,
)
@click.option(
    "--client-secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A file only you can read holding the client secret.",
)
@click.option("--client-secret-stdin", is_flag=True, help="Read the client secret from stdin.")
@click.option("--scopes", default="openid email profile", show_default=True)
@click.option("--algorithm", "algorithms", multiple=True, default=["RS256"], show_default=True)
@click.option("--email-domain", "email_domains", multiple=True, help="Repeatable.")
@click.option("--tenant", "tenants", multiple=True, help="Microsoft Entra tenant ID. Repeatable.")
@click.option("--hosted-domain", "hosted_domains", multiple=True, help="Google hd. Repeatable.")
@click.option("--acr", "acr_values", multiple=True, help="Required acr value. Repeatable.")
@click.option("--require-strong-amr", is_flag=True, help="Require MFA, shown by amr.")
@click.option("--group-role", "group_roles", multiple=True, help="GROUP=ROLE. Repeatable.")
def idp_add(**options: Any) -> None:
    from portal.admin import services

    secret = _client_secret(options["client_secret_file"], options["client_secret_stdin"])
    data = _spec_data(options)
    with _idp_transaction() as (app, store, cipher):
        if services.provider(store, options["slug"]) is not None:
            raise CommandError(
                f"There is already an identity provider {options['slug']!r}: change it on the "
                "admin pages or with `portal idp load`."
            )
        result = services.save(store, cipher, data, client_secret=secret, actor=SYSTEM)
        if isinstance(result, list):
            field, message = result[0].field, result[0].message
            raise CommandError(
                f"{_IDP_OPTIONS.get(field, '--' + field.replace('_', '-'))}: {message}."
            )
        addresses = services.registration_addresses(app, result.slug)
        key_id = (result.client_public_jwk or {}).get("kid")
        summary = f"Added identity provider {result.slug!r} for {result.organisation.name}"
    click.echo(f"{summary} ({data['client_auth_method']}).")
    click.echo("Register the portal at the provider with:")
    click.echo(f"  redirect URI:             {addresses['callback']}")
    click.echo(f"  back-channel logout URI:  {addresses['back_channel_logout']}")
    click.echo(f"  post-logout redirect URI: {addresses['signed_out']}")
    if key_id:
        click.echo(f"  JWKS URL:                 {addresses['jwks']} (key ID {key_id})")


def _spec_data(options: dict[str, Any]) -> dict[str, Any]:
    group_roles = {}
    for line in options["group_roles"]:
        group, equals, role = line.partition("=")
        if not equals or not group.strip() or not role.strip():
            raise CommandError(f"--group-role: write it as GROUP=ROLE, not {line!r}.")
        group_roles[group.strip()] = role.strip()
    return {
        "organisation": options["organisation"],
        "slug": options["slug"],
        "display_name": options["display_name"] or options["organisation"],
        "issuer": options["issuer"],
        "client_id": options["client_id"],
        "client_auth_method": options["client_auth"],
        "scopes": options["scopes"],
        "signing_algorithms": list(options["algorithms"]),
        "allowed_email_domains": list(options["email_domains"]),
        "allowed_tenants": list(options["tenants"]),
        "allowed_hosted_domains": list(options["hosted_domains"]),
        "required_acr_values": list(options["acr_values"]),
        "require_strong_amr": options["require_strong_amr"],
        "group_roles": group_roles,
    }


def _client_secret(path: Path | None, from_stdin: bool) -> str | None:
    """Never from the command line itself: every process list would show it."""
    from portal.auth.oidc.registry import RegistryError, read_secret_file

    if path is not None and from_stdin:
        raise CommandError("Give the client secret one way: a file or standard input, not both.")
    if path is not None:
        try:
            return read_secret_file(path)
        except RegistryError as error:
            raise CommandError(str(error)) from None
    if not from_stdin:
        return None
    if sys.stdin.isatty():
        secret = str(click.prompt("Client secret", hide_input=True))
    else:
        secret = sys.stdin.read(4097)
    if not secret.strip():
        raise CommandError("No client secret arrived on standard input.")
    return secret.strip()


@idp.command("load", help="Add or change the providers in a TOML file, all or none.")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def idp_load(file: Path) -> None:
    from portal.admin import services
    from portal.auth.oidc.registry import RegistryError, load_file, save_provider

    try:
        entries = load_file(file)
    except RegistryError as error:
        raise CommandError(str(error)) from None
    done = []
    with _idp_transaction() as (_app, store, cipher):
        for spec, secret in entries:
            verb = "Changed" if services.provider(store, spec.slug) else "Added"
            try:
                save_provider(store, cipher, spec, client_secret=secret)
            except RegistryError as error:
                raise RegistryError(f"{spec.slug}: {error}") from None
            done.append(f"{verb} {spec.slug!r} ({spec.organisation}).")
    click.echo("\n".join(done))
    click.echo(f"Loaded {len(entries)} identity providers from {file}.")


@idp.command("list", help="List the identity providers.")
def idp_list() -> None:
    from portal.admin import services

    with _idp_transaction() as (_app, store, _cipher):
        found = services.providers(store)
        lines = [
            f"{p.slug:<20} {'enabled' if p.enabled else 'DISABLED':<9} "
            f"{p.client_auth_method.value:<20} {p.issuer}  ({p.organisation.name})"
            for p in found
        ]
    click.echo("\n".join(lines) if lines else "No identity providers yet.")


@idp.command("disable", help="Stop sign-in through a provider and end the sessions it started.")
@click.argument("slug")
def idp_disable(slug: str) -> None:
    _set_enabled(slug, enabled=False)


@idp.command("enable", help="Allow sign-in through a provider again.")
@click.argument("slug")
def idp_enable(slug: str) -> None:
    _set_enabled(slug, enabled=True)


def _set_enabled(slug: str, *, enabled: bool) -> None:
    from portal.admin import services

    state = "enabled" if enabled else "disabled"
    with _idp_transaction() as (_app, store, cipher):
        provider = services.provider(store, slug)
        if provider is None:
            raise CommandError(
                f"There is no identity provider {slug!r}: `portal idp list` names them."
            )
        changed = services.set_enabled(store, cipher, provider, enabled)
    if not changed:
        click.echo(f"Identity provider {slug!r} was already {state}.")
    elif enabled:
        click.echo(f"Enabled identity provider {slug!r}: its people can sign in again.")
    else:
        click.echo(f"Disabled identity provider {slug!r}: its sessions have ended.")


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
