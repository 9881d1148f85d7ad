"""The registry of identity providers: one validated description, three ways in.

Admins change providers on the admin pages, operators script them with `portal idp add` or
load them from a TOML file in config/ with `portal idp load`. All three go through
`ProviderSpec` and `save_provider`, so a provider is checked the same way however it arrives,
and every change is audited.
"""

from __future__ import annotations

import re
import tomllib
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from joserfc.jwk import RSAKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.audit.record import SYSTEM
from portal.auth.oidc.identity import PARTNER_ROLES
from portal.auth.oidc.tokens import ASYMMETRIC_ALGORITHMS
from portal.auth.sessions import end_sessions
from portal.crypto.records import RecordCipher
from portal.models import ClientAuthMethod, IdentityProvider, Organisation, OrganisationKind, Role

# Asymmetric signature algorithms only: HMAC would let anyone holding the provider's public
# key (everyone) forge tokens, and `none` is no signature at all.
ALLOWED_SIGNING_ALGORITHMS = tuple(sorted(ASYMMETRIC_ALGORITHMS))
CLIENT_KEY_ALGORITHM = "RS256"
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$"
# /admin/identity-providers/new is the page that adds a provider, so no provider may be "new".
RESERVED_SLUGS = frozenset({"new"})


class RegistryError(Exception):
    """A provider description cannot be used; the message says what to change.

    `field` names the ProviderSpec field (or "client_secret") the problem is with, if one is,
    so a form can show the message against it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ProviderSpec(BaseModel):
    """What an operator states about a provider. Secrets travel beside it, never in it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation: str = Field(min_length=1, max_length=200)
    slug: str = Field(pattern=SLUG_PATTERN)
    display_name: str = Field(min_length=1, max_length=200)
    issuer: str = Field(min_length=1, max_length=500)
    client_id: str = Field(min_length=1, max_length=255)
    client_auth_method: ClientAuthMethod = ClientAuthMethod.CLIENT_SECRET_BASIC
    scopes: str = "openid email profile"
    signing_algorithms: list[str] = Field(default_factory=lambda: ["RS256"], min_length=1)
    claim_mapping: dict[str, str] = Field(
        default_factory=lambda: {"email": "email", "name": "name", "groups": "groups"}
    )
    group_roles: dict[str, Role] = Field(default_factory=dict)
    allowed_email_domains: list[str] = Field(default_factory=list)
    allowed_tenants: list[str] = Field(default_factory=list)
    allowed_hosted_domains: list[str] = Field(default_factory=list)
    required_acr_values: list[str] = Field(default_factory=list)
    require_strong_amr: bool = False
    enabled: bool = True

    @field_validator("slug")
    @classmethod
    def _not_reserved(cls, slug: str) -> str:
        if slug in RESERVED_SLUGS:
            raise ValueError(
                f"{slug!r} is reserved for the portal's own pages: choose another slug"
            )
        return slug

    @field_validator("issuer")
    @classmethod
    def _issuer_is_https(cls, issuer: str) -> str:
        parts = urlsplit(issuer)
        if parts.query or parts.fragment or not parts.netloc:
            raise ValueError("the issuer must be an absolute URL without query or fragment")
        if parts.scheme != "https" and not (
            parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
        ):
            raise ValueError("the issuer must use https (plain http only on loopback)")
        return issuer

    @field_validator("signing_algorithms")
    @classmethod
    def _asymmetric_only(cls, algorithms: list[str]) -> list[str]:
        refused = [alg for alg in algorithms if alg not in ALLOWED_SIGNING_ALGORITHMS]
        if refused:
            raise ValueError(
                f"{', '.join(refused)} cannot be pinned: use asymmetric algorithms "
                f"({', '.join(ALLOWED_SIGNING_ALGORITHMS)})"
            )
        return algorithms

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, scopes: str) -> str:
        if "openid" not in scopes.split():
            raise ValueError("the scopes must include openid")
        return " ".join(scopes.split())

    @field_validator("allowed_email_domains", "allowed_hosted_domains")
    @classmethod
    def _domains(cls, domains: list[str]) -> list[str]:
        cleaned = [domain.strip().lower().lstrip("@") for domain in domains if domain.strip()]
        for domain in cleaned:
            if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", domain):
                raise ValueError(f"{domain!r} is not a domain name")
        return cleaned

    @field_validator("claim_mapping")
    @classmethod
    def _known_claims(cls, mapping: dict[str, str]) -> dict[str, str]:
        unknown = set(mapping) - {"email", "name", "groups"}
        if unknown:
            raise ValueError(f"claim mapping knows email, name and groups, not {sorted(unknown)}")
        if any(not isinstance(claim, str) or not claim.strip() for claim in mapping.values()):
            raise ValueError("each claim mapping must name a claim")
        return {purpose: claim.strip() for purpose, claim in mapping.items()}


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each of `error`'s problems as (ProviderSpec field, one sentence saying what to change)."""
    found = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        found.append((field, _sentence(field, item)))
    return found


def _sentence(field: str, item: Any) -> str:
    kind = item["type"]
    if kind == "value_error":
        text = str(item["ctx"]["error"])  # the validators above speak in sentences already
    elif kind == "string_pattern_mismatch" and field == "slug":
        text = (
            "the slug must be 1 to 60 lower-case letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    elif kind == "enum":
        text = f"{item['input']!r} is not one of {item['ctx']['expected']}"
    elif kind in ("missing", "string_too_short", "too_short"):
        text = f"{field.replace('_', ' ')} is required"
    else:
        text = f"{field.replace('_', ' ')}: {item['msg']}"
    return text[:1].upper() + text[1:]


# What a change to a provider is recorded by name (never the secret), and which of those
# change who may get in (so the provider's open sessions end when they change).
_RULE_FIELDS = frozenset(
    {
        "group_roles",
        "allowed_email_domains",
        "allowed_tenants",
        "allowed_hosted_domains",
        "required_acr_values",
        "require_strong_amr",
        "signing_algorithms",
        "claim_mapping",
    }
)
_AUDITED_FIELDS = (
    "display_name",
    "client_id",
    "client_auth_method",
    "scopes",
    *sorted(_RULE_FIELDS),
    "enabled",
)


def save_provider(
    session: Session,
    cipher: RecordCipher,
    spec: ProviderSpec,
    *,
    client_secret: str | None = None,
    actor: Actor = SYSTEM,
) -> IdentityProvider:
    """Create or update the provider with `spec.slug`, audited in the caller's transaction.

    A client secret is required for the client_secret_* methods when none is stored yet;
    private_key_jwt gets a key pair generated on first save.
    """
    organisation = session.scalar(
        sa.select(Organisation).where(Organisation.name == spec.organisation)
    )
    if organisation is None:
        raise RegistryError(
            f"There is no organisation called {spec.organisation!r}: add it first.",
            field="organisation",
        )
    if organisation.kind == OrganisationKind.COUNCIL:
        partner_roles = sorted(
            group for group, role in spec.group_roles.items() if role in PARTNER_ROLES
        )
        if partner_roles:
            raise RegistryError(
                f"A council provider can only give council roles: the groups "
                f"{', '.join(partner_roles)} map to partner roles.",
                field="group_roles",
            )
    else:
        council_roles = sorted(
            group for group, role in spec.group_roles.items() if role not in PARTNER_ROLES
        )
        if council_roles:
            raise RegistryError(
                f"A partner organisation's provider can only give partner roles: "
                f"the groups {', '.join(council_roles)} map to council roles.",
                field="group_roles",
            )
    provider = session.scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == spec.slug))
    _check_shared_issuer(session, spec)
    created = provider is None
    was_enabled = provider is not None and provider.enabled
    if provider is None:
        provider = IdentityProvider(id=uuid.uuid4(), slug=spec.slug)
        session.add(provider)
    elif provider.issuer != spec.issuer:
        raise RegistryError(
            f"The provider {spec.slug!r} keeps its issuer: people are identified by it. Add a "
            "new provider for the new issuer and disable this one.",
            field="issuer",
        )
    elif provider.organisation_id != organisation.id:
        raise RegistryError(
            f"The provider {spec.slug!r} belongs to another organisation: a provider cannot move, "
            "because it decides which organisation its people are in.",
            field="organisation",
        )
    provider.organisation = organisation
    before = {field: getattr(provider, field, None) for field in _AUDITED_FIELDS}
    for field in (
        "display_name",
        "issuer",
        "client_id",
        "client_auth_method",
        "scopes",
        "signing_algorithms",
        "claim_mapping",
        "allowed_email_domains",
        "allowed_tenants",
        "allowed_hosted_domains",
        "required_acr_values",
        "require_strong_amr",
        "enabled",
    ):
        setattr(provider, field, getattr(spec, field))
    provider.group_roles = {group: role.value for group, role in spec.group_roles.items()}
    _set_credentials(provider, cipher, spec.client_auth_method, client_secret)
    session.flush()
    changed = sorted(f for f in _AUDITED_FIELDS if before[f] != getattr(provider, f, None))
    # Switching a provider off, or tightening who it lets in, ends the sessions it started:
    # an admin acting on a compromised provider means its people to be out now.
    tightened = bool(set(changed) & _RULE_FIELDS)
    ended = (
        end_sessions(session, identity_provider_id=provider.id)
        if not created and ((was_enabled and not spec.enabled) or tightened)
        else 0
    )
    record_event(
        session,
        AuditAction.IDENTITY_PROVIDER_ADDED if created else AuditAction.IDENTITY_PROVIDER_CHANGED,
        actor=actor,
        object_type="identity_provider",
        object_id=provider.id,
        details={
            "slug": provider.slug,
            "organisation_id": str(organisation.id),
            "client_auth_method": provider.client_auth_method.value,
            "enabled": provider.enabled,
            "secret_changed": client_secret is not None,
            "sessions_ended": ended,
            "changed": ",".join(changed) or None,
            "group_roles": ",".join(
                f"{group}={role}" for group, role in sorted(provider.group_roles.items())
            )
            or None,
            "required_acr_values": ",".join(provider.required_acr_values) or None,
            "require_strong_amr": provider.require_strong_amr,
        },
    )
    return provider


def _check_shared_issuer(session: Session, spec: ProviderSpec) -> None:
    """One issuer may serve several organisations only when each entry pins its own
    directory: Google Workspace schools share https://accounts.google.com and are told apart
    by `hd`; Entra ID's multi-tenant issuers by `tid`. Without such pins, the provider alone
    could not decide which organisation a person is in."""
    others = session.scalars(
        sa.select(IdentityProvider).where(
            IdentityProvider.issuer == spec.issuer, IdentityProvider.slug != spec.slug
        )
    ).all()
    mine = {("tid", t) for t in spec.allowed_tenants} | {
        ("hd", d) for d in spec.allowed_hosted_domains
    }
    for other in others:
        theirs = {("tid", t) for t in other.allowed_tenants} | {
            ("hd", d) for d in other.allowed_hosted_domains
        }
        if not mine or not theirs or mine & theirs:
            raise RegistryError(
                f"The issuer {spec.issuer} is already registered as {other.slug!r}: a shared "
                "issuer needs each entry to allow its own tenants or hosted domains.",
                field="issuer",
            )


def _set_credentials(
    provider: IdentityProvider,
    cipher: RecordCipher,
    method: ClientAuthMethod,
    client_secret: str | None,
) -> None:
    if method == ClientAuthMethod.PRIVATE_KEY_JWT:
        if client_secret is not None:
            raise RegistryError(
                "private_key_jwt uses the portal's own key pair, not a client secret.",
                field="client_secret",
            )
        provider.client_secret_enc = None
        if provider.client_key_enc is None:
            key = RSAKey.generate_key(3072, parameters={"alg": CLIENT_KEY_ALGORITHM, "use": "sig"})
            key.ensure_kid()
            cipher.seal_json(provider, "client_key_enc", key.as_dict(private=True))
            provider.client_public_jwk = key.as_dict(private=False)
        return
    provider.client_key_enc = None
    provider.client_public_jwk = None
    if client_secret is not None:
        if len(client_secret) < 16:
            raise RegistryError(
                "The client secret is shorter than 16 characters: check it.",
                field="client_secret",
            )
        cipher.seal_text(provider, "client_secret_enc", client_secret)
    elif provider.client_secret_enc is None:
        raise RegistryError(
            f"{method.value} needs a client secret: give one.", field="client_secret"
        )


def load_file(path: Path) -> list[tuple[ProviderSpec, str | None]]:
    """Read providers from a TOML file: [[provider]] tables, each with an optional
    `client_secret_file` naming a file (outside git) that holds the client secret."""
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RegistryError(f"Cannot read {path}: {error}.") from None
    entries = data.get("provider", [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{path} has no [[provider]] tables.")
    loaded = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise RegistryError(f"{path}, provider {number}: write it as a [[provider]] table.")
        entry = dict(entry)
        secret_file = entry.pop("client_secret_file", None)
        try:
            spec = ProviderSpec.model_validate(entry)
        except ValidationError as error:
            field, sentence = problems(error)[0]
            raise RegistryError(f"{path}, provider {number}: {field}: {sentence}.") from None
        if secret_file is not None and not isinstance(secret_file, str):
            raise RegistryError(f"{path}, provider {number}: client_secret_file must be a path.")
        loaded.append((spec, _read_secret(path, secret_file) if secret_file else None))
    return loaded


def _read_secret(source: Path, name: str) -> str:
    from portal.config import PROJECT_ROOT

    path = Path(name) if Path(name).is_absolute() else PROJECT_ROOT / name
    try:
        return read_secret_file(path)
    except RegistryError as error:
        raise RegistryError(f"{source}: {error}") from None


def read_secret_file(path: Path) -> str:
    """A client secret from a file only its owner can read (never from a command line)."""
    from portal.private_files import PrivateFileError, read_private_file

    try:
        secret = read_private_file(
            path, "Client secret file", f"install -m 600 /dev/null {path}", 4096
        )
    except PrivateFileError as error:
        raise RegistryError(str(error)) from None
    try:
        return secret.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RegistryError(f"Client secret file {path} is not text: check it.") from None


def spec_of(provider: IdentityProvider) -> ProviderSpec:
    """The description of a stored provider, for editing."""
    return ProviderSpec(
        organisation=provider.organisation.name,
        slug=provider.slug,
        display_name=provider.display_name,
        issuer=provider.issuer,
        client_id=provider.client_id,
        client_auth_method=provider.client_auth_method,
        scopes=provider.scopes,
        signing_algorithms=list(provider.signing_algorithms),
        claim_mapping=dict(provider.claim_mapping),
        group_roles={group: Role(role) for group, role in provider.group_roles.items()},
        allowed_email_domains=list(provider.allowed_email_domains),
        allowed_tenants=list(provider.allowed_tenants),
        allowed_hosted_domains=list(provider.allowed_hosted_domains),
        required_acr_values=list(provider.required_acr_values),
        require_strong_amr=provider.require_strong_amr,
        enabled=provider.enabled,
    )


def published_keys(session: Session) -> dict[str, Any]:
    """The portal's public client-authentication keys, as a JWKS."""
    rows = session.scalars(
        sa.select(IdentityProvider.client_public_jwk).where(
            IdentityProvider.client_public_jwk.is_not(None), IdentityProvider.enabled.is_(True)
        )
    )
    return {"keys": [dict(jwk) for jwk in rows if jwk]}
