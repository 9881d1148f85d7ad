"""What an operator states about an identity provider, checked: `ProviderSpec`, the one
description the admin pages, `portal idp add` and registry files all go through."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from portal.auth.oidc.tokens import ASYMMETRIC_ALGORITHMS
from portal.domain_names import cleaned, is_domain_name
from portal.models import ClientAuthMethod, IdentityProvider, Role

# Asymmetric signature algorithms only: HMAC would let anyone holding the provider's public
# key (everyone) forge tokens, and `none` is no signature at all.
ALLOWED_SIGNING_ALGORITHMS = tuple(sorted(ASYMMETRIC_ALGORITHMS))
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
        kept = [cleaned(domain) for domain in domains if domain.strip()]
        for domain in kept:
            if not is_domain_name(domain):
                raise ValueError(f"{domain!r} is not a domain name")
        return kept

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
