"""A provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0): its signed
logout token checked and the sessions it names ended, audited in the request's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event, record_event_apart
from portal.auth import oidc
from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.tokens import check_logout_token_claims, verify_signature
from portal.auth.sessions import end_sessions
from portal.models import AuditOutcome, IdentityProvider, User

# Far longer than any provider's logout token; refused unread beyond it.
MAX_TOKEN_LENGTH = 16_384


def end_provider_sessions(
    store: Session, provider: IdentityProvider, raw_token: str, *, skew: int
) -> int:
    """End the sessions `raw_token` names (by `sid`, or every one of the person's by `sub`)
    and record it; how many ended. SignInFailure says why the token was refused."""
    claims = verified_logout_claims(provider, raw_token, skew=skew)
    user = _person_named(store, provider, claims)
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    ended = 0
    if sid is not None or user is not None:
        ended = end_sessions(
            store,
            user_id=user.id if user is not None else None,
            identity_provider_id=provider.id,
            provider_session_id=sid,
        )
    record_event(
        store,
        AuditAction.SESSION_ENDED_BY_PROVIDER,
        object_type="user",
        object_id=user.id if user else None,
        details={"provider": provider.slug, "sessions_ended": ended},
    )
    return ended


def verified_logout_claims(
    provider: IdentityProvider, raw_token: str, *, skew: int
) -> dict[str, Any]:
    """The claims of a logout token signed by `provider`'s key and valid for the portal."""
    if not provider.enabled or not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
        raise SignInFailure("malformed_token")
    directory = oidc.directory()
    metadata = directory.metadata(provider.issuer)
    claims = verify_signature(
        raw_token,
        algorithms=provider.signing_algorithms,
        keys=lambda refresh: directory.keys(metadata, refresh=refresh),
    )
    check_logout_token_claims(
        claims, issuer=provider.issuer, client_id=provider.client_id, skew=skew
    )
    return claims


def record_refusal(sessions: Callable[[], Session], provider_id: uuid.UUID, reason: str) -> None:
    """A refused logout token, in a transaction of its own: the request's is rolled back."""
    record_event_apart(
        sessions,
        AuditAction.LOGOUT_TOKEN_REFUSED,
        outcome=AuditOutcome.FAILURE,
        object_type="identity_provider",
        object_id=provider_id,
        details={"reason": reason},
    )


def _person_named(
    store: Session, provider: IdentityProvider, claims: dict[str, Any]
) -> User | None:
    if not isinstance(claims.get("sub"), str):
        return None
    return store.scalar(
        sa.select(User).where(User.issuer == provider.issuer, User.subject == claims["sub"])
    )
