"""The demo's sign-in: its identity providers and the development OpenID provider's accounts.

`config/demo-identity-providers.toml` describes the providers, as any registry file does.
`prepare_client_secrets` makes their random client secrets (instance/demo/oidc, owner-only);
`dev_provider_config` describes the same providers, clients and demo people to the
development OpenID provider (infra/dev-oidc/server.mjs), which the demo runs on loopback.
The file's [[unregistered_provider]] tables are providers the development OpenID provider
serves but the portal does not know yet (`unregistered_providers`): a school before it joins.
"""

from __future__ import annotations

import secrets
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry_file import load_file, secret_file_path
from portal.config import CONFIG_DIR
from portal.demo.seed import NEWCOMERS, PEOPLE, SCHOOLS, DemoPerson
from portal.models import ClientAuthMethod, Role
from portal.private_files import write_new_private_file

REGISTRY_FILE = CONFIG_DIR / "demo-identity-providers.toml"
# The registry file's table of providers that nothing registers in the portal by itself.
UNREGISTERED = "unregistered_provider"
# Ashby Lane's (fictional) Entra ID tenant, allowed in the registry file.
ASHBY_LANE_TENANT = "3f2d9c1e-5b7a-4c88-9e61-0a4b2c6d8e10"
# Microsoft's consumer tenant: a personal account, which the portal always refuses.
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
GROUP_FOR_ROLE = {
    Role.SOCIAL_WORKER: "portal-social-workers",
    Role.TEAM_MANAGER: "portal-team-managers",
    Role.IG_OFFICER: "portal-information-governance",
    Role.PORTAL_ADMIN: "portal-administrators",
    Role.PARTNER_ENGAGEMENT_OFFICER: "portal-partner-engagement",
}


def prepare_client_secrets(path: Path = REGISTRY_FILE) -> list[Path]:
    """Create each provider's client secret file if it is missing; returns those made."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    entries = [*data.get("provider", []), *data.get(UNREGISTERED, [])]
    made = []
    for entry in entries:
        name = entry.get("client_secret_file")
        if not name:
            continue
        secret_path = secret_file_path(name)
        if not secret_path.exists():
            secret_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_new_private_file(secret_path, secrets.token_urlsafe(32).encode("ascii"))
            made.append(secret_path)
    return made


def demo_providers(path: Path = REGISTRY_FILE) -> list[tuple[ProviderSpec, str | None]]:
    return load_file(path)


def unregistered_providers(path: Path = REGISTRY_FILE) -> list[tuple[ProviderSpec, str | None]]:
    """Providers the development OpenID provider serves that the portal has not registered."""
    return load_file(path, UNREGISTERED)


def registration_steps(path: Path = REGISTRY_FILE) -> str:
    """What a portal admin enters at /admin/identity-providers/new to register each of the
    file's unregistered providers (the secret by where it is, never itself)."""
    with path.open("rb") as handle:
        entries = tomllib.load(handle).get(UNREGISTERED, [])
    described = []
    for entry in entries:
        domains = ", ".join(entry.get("allowed_email_domains", []))
        lines = [
            f"Organisation: {entry['organisation']} (the partner engagement officer adds it "
            f"first at /organisations, with the e-mail domain {domains})",
            f"Slug: {entry['slug']}",
            f"Display name: {entry['display_name']}",
            f"Issuer: {entry['issuer']}",
            f"Client ID: {entry['client_id']}",
            f"Client secret: the contents of {entry['client_secret_file']}",
            f"Allowed email domains: {domains}",
        ]
        described.append("\n".join(f"  {line}" for line in lines))
    return "\n\n".join(described)


def dev_provider_config(
    providers: list[tuple[ProviderSpec, str | None]], base_url: str
) -> dict[str, Any]:
    """The development OpenID provider's configuration for these providers."""
    described = []
    for spec, secret in providers:
        client: dict[str, Any] = {
            "client_id": spec.client_id,
            "token_endpoint_auth_method": spec.client_auth_method.value,
            "redirect_uris": [f"{base_url}/sign-in/callback/{spec.slug}"],
            "post_logout_redirect_uris": [f"{base_url}/signed-out"],
            "backchannel_logout_uri": f"{base_url}/sign-in/back-channel-logout/{spec.slug}",
            "id_token_signed_response_alg": spec.signing_algorithms[0],
        }
        if spec.client_auth_method == ClientAuthMethod.PRIVATE_KEY_JWT:
            client["jwks_uri"] = f"{base_url}/.well-known/jwks.json"
        else:
            client["client_secret"] = secret
        people = [p for p in (*PEOPLE, *NEWCOMERS) if p.organisation == spec.organisation]
        accounts = [_account(person, spec) for person in people]
        if spec.organisation == SCHOOLS[0]:
            accounts.append(_personal_microsoft_account())
        described.append(
            {
                "name": spec.slug,
                "port": urlsplit(spec.issuer).port,
                "accounts": accounts,
                "clients": [client],
            }
        )
    return {"providers": described}


def _account(person: DemoPerson, spec: ProviderSpec) -> dict[str, Any]:
    claims: dict[str, Any] = {"email": person.email, "email_verified": True, "name": person.name}
    groups = [GROUP_FOR_ROLE[role] for role in person.roles if role in GROUP_FOR_ROLE]
    if groups:
        claims["groups"] = groups
    if spec.allowed_tenants:
        claims["tid"] = ASHBY_LANE_TENANT
    if spec.allowed_hosted_domains:
        claims["hd"] = spec.allowed_hosted_domains[0]
    roles = ", ".join(role.label.lower() for role in person.roles) or "not yet approved"
    account: dict[str, Any] = {
        "sub": person.subject,
        "label": f"{person.name} ({roles})",
        "claims": claims,
        "amr": ["pwd", "mfa"] if spec.require_strong_amr else ["pwd"],
    }
    if spec.required_acr_values:
        account["acr"] = spec.required_acr_values[-1]
        account["amr"] = ["sc"]  # a smartcard, as NHS CIS2 uses
    return account


def _personal_microsoft_account() -> dict[str, Any]:
    return {
        "sub": "personal-1",
        "label": "A personal Microsoft account (the portal refuses it)",
        "claims": {
            "email": "someone@outlook.example",
            "email_verified": True,
            "name": "Personal account",
            "tid": CONSUMER_TENANT,
        },
        "amr": ["pwd"],
    }
