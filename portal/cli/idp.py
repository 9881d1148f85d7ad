"""The identity-provider registry from the command line: `portal idp …`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.record import SYSTEM
from portal.cli.base import CommandError, app_context, cli
from portal.models.organisations import ClientAuthMethod

if TYPE_CHECKING:
    from portal.crypto.records import RecordCipher


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
    from portal.auth.oidc.provider_spec import RegistryError
    from portal.crypto.records import RecordCipher
    from portal.crypto.runtime import keyring

    with app_context() as app:
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
    from portal.auth.oidc.provider_spec import RegistryError
    from portal.auth.oidc.registry_file import read_secret_file

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
    from portal.auth.oidc.provider_spec import RegistryError
    from portal.auth.oidc.registry import save_provider
    from portal.auth.oidc.registry_file import load_file

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
