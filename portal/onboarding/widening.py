"""Whether a change widens who can act for a partner: pure rules, testable alone.

A change that widens (a new provider, one switched on, a rule relaxed, a domain added, a
role mapped, self-provisioning on, a new partner lead) takes effect only when a second person
approves it; one that only narrows (a provider switched off, MFA demanded, a domain removed)
takes effect at once, so that an admin acting on a compromised provider never waits.
Rotating a client secret or renaming a provider changes nobody's access: neither widens.
"""

from __future__ import annotations

from collections.abc import Iterable

from portal.auth.oidc.provider_spec import ProviderSpec


def provider_widening(before: ProviderSpec | None, after: ProviderSpec) -> list[str]:
    """Why saving `after` over `before` (None: a new provider) widens who it lets in, as
    ProviderSpec field names (or "created"); empty when it does not."""
    if before is None:
        return ["created"]
    found = [field for field, test in _WIDENS.items() if test(before, after)]
    return found


def provider_narrowing(before: ProviderSpec, after: ProviderSpec) -> list[str]:
    """Why saving `after` over `before` narrows who the provider lets in (switched off, a
    domain removed, MFA demanded...): the fields whose change undone would widen, and done
    does not. Changes that widen either way (the client id, say) are not narrowing."""
    forward = set(provider_widening(before, after))
    return [field for field in provider_widening(after, before) if field not in forward]


def _enabled(before: ProviderSpec, after: ProviderSpec) -> bool:
    return not before.enabled and after.enabled


def _email_domains(before: ProviderSpec, after: ProviderSpec) -> bool:
    # An empty list allows nobody to self-provision: only an added domain widens.
    return bool(added(before.allowed_email_domains, after.allowed_email_domains))


def _tenants(before: ProviderSpec, after: ProviderSpec) -> bool:
    return restriction_relaxed(before.allowed_tenants, after.allowed_tenants)


def _hosted_domains(before: ProviderSpec, after: ProviderSpec) -> bool:
    return restriction_relaxed(before.allowed_hosted_domains, after.allowed_hosted_domains)


def _acr(before: ProviderSpec, after: ProviderSpec) -> bool:
    return restriction_relaxed(before.required_acr_values, after.required_acr_values)


def _amr(before: ProviderSpec, after: ProviderSpec) -> bool:
    return before.require_strong_amr and not after.require_strong_amr


def _group_roles(before: ProviderSpec, after: ProviderSpec) -> bool:
    return any(before.group_roles.get(group) != role for group, role in after.group_roles.items())


def _claim_mapping(before: ProviderSpec, after: ProviderSpec) -> bool:
    return before.claim_mapping != after.claim_mapping


def _signing_algorithms(before: ProviderSpec, after: ProviderSpec) -> bool:
    return bool(added(before.signing_algorithms, after.signing_algorithms))


def _client_id(before: ProviderSpec, after: ProviderSpec) -> bool:
    return before.client_id != after.client_id


def _client_auth_method(before: ProviderSpec, after: ProviderSpec) -> bool:
    return before.client_auth_method != after.client_auth_method


_WIDENS = {
    "enabled": _enabled,
    "allowed_email_domains": _email_domains,
    "allowed_tenants": _tenants,
    "allowed_hosted_domains": _hosted_domains,
    "required_acr_values": _acr,
    "require_strong_amr": _amr,
    "group_roles": _group_roles,
    "claim_mapping": _claim_mapping,
    "signing_algorithms": _signing_algorithms,
    "client_id": _client_id,
    "client_auth_method": _client_auth_method,
}


def restriction_relaxed(before: Iterable[str], after: Iterable[str]) -> bool:
    """A list that restricts (empty: no restriction) lets more in when it gains a value or
    when it is emptied."""
    was, now = set(before), set(after)
    if not was:
        return False
    return not now or bool(now - was)


def added(before: Iterable[str], after: Iterable[str]) -> list[str]:
    """What `after` has that `before` had not, sorted."""
    return sorted(set(after) - set(before))


def domains_widen(before: Iterable[str], after: Iterable[str]) -> bool:
    """An organisation's e-mail domains widen when one is added; removing one only narrows."""
    return bool(added(before, after))


def self_provisioning_widens(before: bool, after: bool) -> bool:
    """Turning self-provisioning on widens; turning it off only narrows."""
    return after and not before
