"""Signing in through a provider: starting, and completing at the provider's callback (the OIDC
response checked, who the person is decided, and the outcome on the audit trail, in the
request's transaction). A refusal is recorded apart, since the request's own transaction is
rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event, record_lasting_event
from portal.audit.record import DetailValue
from portal.auth import oidc
from portal.auth.login import actor_for
from portal.auth.oidc import flow, identity
from portal.auth.oidc.errors import SignInFailure
from portal.crypto.records import RecordCipher
from portal.models import AuditOutcome, IdentityProvider, OrganisationStage, User
from portal.models.base import utcnow


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: who, whether they may have a session yet, and where to go next."""

    user: User
    awaiting_approval: bool
    provider_session_id: str | None
    next_path: str | None


def begin(
    web_session: MutableMapping[str, Any],
    provider: IdentityProvider,
    *,
    redirect_uri: str,
    next_path: str | None,
) -> str:
    """The provider's authorization URL for a sign-in kept in `web_session`; SignInFailure
    when the provider is switched off or does not answer."""
    if not provider.enabled:
        raise SignInFailure("provider_disabled", status=403)
    refuse_if_left(provider)
    metadata = oidc.directory().metadata(provider.issuer)
    return flow.begin(
        web_session, provider, metadata, redirect_uri=redirect_uri, next_path=next_path
    )


def complete(
    store: Session,
    web_session: MutableMapping[str, Any],
    args: Mapping[str, str],
    provider: IdentityProvider,
    cipher: RecordCipher,
    *,
    skew: int,
) -> SignIn:
    """Check the provider's response to the sign-in `web_session` started, decide who the
    person is and record it; SignInFailure says why not."""
    # Taken out of the session first: a state, and so a code, is good for one try only.
    transaction = flow.take_transaction(web_session, args.get("state"))
    if not provider.enabled:
        raise SignInFailure("provider_disabled", status=403)
    refuse_if_left(provider)
    directory = oidc.directory()
    metadata = directory.metadata(provider.issuer)
    verified = flow.complete(
        transaction,
        args,
        provider,
        metadata,
        directory,
        credentials(cipher, provider),
        skew=skew,
    )
    resolution = identity.resolve_user(store, provider, verified.id_token_claims, verified.userinfo)
    record_outcome(store, provider, verified, resolution)
    return SignIn(
        user=resolution.user,
        awaiting_approval=resolution.outcome == identity.Outcome.AWAITING_APPROVAL,
        provider_session_id=verified.provider_session_id,
        next_path=verified.next_path,
    )


def refuse_if_left(provider: IdentityProvider) -> None:
    """Nobody signs in for an organisation that has left the pilot, whatever its provider
    says (as for a suspended one, which identity.resolve_user refuses)."""
    if provider.organisation.stage == OrganisationStage.LEFT:
        raise SignInFailure("organisation_left", status=403)


def credentials(cipher: RecordCipher, provider: IdentityProvider) -> flow.Credentials:
    """The portal's client credential for `provider`, opened for one token request."""
    if provider.client_key_enc is not None:
        return flow.Credentials(private_jwk=cipher.open_json(provider, "client_key_enc"))
    return flow.Credentials(client_secret=cipher.open_text(provider, "client_secret_enc"))


def record_outcome(
    store: Session,
    provider: IdentityProvider,
    verified: flow.VerifiedSignIn,
    resolution: identity.Resolution,
) -> None:
    """The sign-in's events: roles the provider changed, then the newcomer waiting, or the
    account provisioned and the sign-in itself."""
    user = resolution.user

    def record(action: AuditAction, **extra: DetailValue) -> None:
        details: dict[str, DetailValue] = {
            "provider": provider.slug,
            "acr": _text(verified.id_token_claims.get("acr")),
            **extra,
        }
        record_event(
            store,
            action,
            actor=actor_for(user),
            object_type="user",
            object_id=user.id,
            details=details,
        )

    record_test(store, provider, user)
    if resolution.roles_changed:
        record(AuditAction.ROLES_CHANGED, source="identity_provider", roles=_roles(user))
    if resolution.outcome == identity.Outcome.AWAITING_APPROVAL:
        record(AuditAction.USER_AWAITING_APPROVAL)
        return
    if resolution.outcome == identity.Outcome.PROVISIONED:
        record(AuditAction.USER_PROVISIONED, roles=_roles(user))
    record(AuditAction.SIGN_IN)


def record_test(store: Session, provider: IdentityProvider, user: User) -> bool:
    """The first sign-in through `provider` since it was last approved (one that ends
    waiting for approval too) is its test: recorded once, even when two arrive together.
    Whether this one was it."""
    if provider.tested_at is not None:
        return False
    store.flush()  # a newcomer's row first: the test names them
    tested = store.execute(
        sa.update(IdentityProvider)
        .where(IdentityProvider.id == provider.id, IdentityProvider.tested_at.is_(None))
        .values(tested_at=utcnow(), tested_by_id=user.id)
        .returning(IdentityProvider.id)
        .execution_options(synchronize_session=False)
    ).first()
    if tested is None:
        return False
    store.refresh(provider, ["tested_at", "tested_by_id"])
    record_event(
        store,
        AuditAction.IDENTITY_PROVIDER_TESTED,
        actor=actor_for(user),
        object_type="identity_provider",
        object_id=provider.id,
        details={"provider": provider.slug, "organisation_id": str(provider.organisation_id)},
    )
    return True


def record_refusal(provider_id: uuid.UUID, slug: str, reason: str) -> None:
    """A refused sign-in stays on the record, though its response rolls back the rest."""
    record_lasting_event(
        AuditAction.SIGN_IN_FAILED,
        outcome=AuditOutcome.FAILURE,
        object_type="identity_provider",
        object_id=provider_id,
        details={"provider": slug, "reason": reason},
    )


def _roles(user: User) -> str:
    return ",".join(sorted(role.value for role in user.roles))


def _text(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) else None
