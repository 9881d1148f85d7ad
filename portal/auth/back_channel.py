"""A provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0): its signed
logout token checked, acted on once, and the sessions it names ended, audited in the request's
transaction.

Each token acted on is remembered by its `jti` until it could no longer be accepted, in the
database (docs/sign-in.md says why there and not in Redis): the same token sent again, to any
web process, is refused. The row is written in the same transaction that ends the sessions, so
a token counts as used only if its logout happened.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.audit import AuditAction, record_event, record_lasting_event
from portal.auth import oidc
from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.tokens import (
    check_logout_token_claims,
    logout_token_accepted_until,
    verify_signature,
)
from portal.auth.sessions import end_sessions
from portal.models import AuditOutcome, IdentityProvider, LogoutTokenUse, User

# Far longer than any provider's logout token; refused unread beyond it.
MAX_TOKEN_LENGTH = 16_384
_USES = cast(sa.Table, LogoutTokenUse.__table__)


def end_provider_sessions(
    store: Session, provider: IdentityProvider, raw_token: str, *, skew: int
) -> int:
    """End the sessions `raw_token` names (by `sid`, or every one of the person's by `sub`)
    and record it; how many ended. SignInFailure says why the token was refused."""
    claims = verified_logout_claims(provider, raw_token, skew=skew)
    act_once(store, provider, claims, skew=skew)
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


def act_once(
    store: Session, provider: IdentityProvider, claims: dict[str, Any], *, skew: int
) -> None:
    """Remember the token's `jti` until it expires; SignInFailure if it is remembered already.
    Tokens past their lifetime are forgotten here, so the table holds only live ones."""
    now = datetime.now(UTC)
    store.execute(sa.delete(_USES).where(_USES.c.expires_at <= now))
    expires = datetime.fromtimestamp(logout_token_accepted_until(claims, skew=skew), UTC)
    remembered = store.execute(
        _insert_unless_remembered(store)
        .values(
            identity_provider_id=provider.id,
            jti_sha256=hashlib.sha256(claims["jti"].encode()).hexdigest(),
            expires_at=expires,
        )
        .returning(_USES.c.jti_sha256)
    ).first()
    if remembered is None:
        raise SignInFailure("replayed_token")


def record_refusal(provider_id: uuid.UUID, reason: str) -> None:
    """A refused logout token stays on the record, though its response rolls back the rest."""
    record_lasting_event(
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


def _insert_unless_remembered(store: Session) -> postgresql.Insert | sqlite.Insert:
    # ON CONFLICT DO NOTHING, not check-then-insert: the same token reaching two web processes
    # at once inserts once; the other waits for that commit and finds the row there.
    dialect = store.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(_USES).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(_USES).on_conflict_do_nothing()
    raise RuntimeError(f"logout tokens cannot be remembered on {dialect}")  # pragma: no cover
