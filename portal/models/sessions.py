"""Server-side web sessions. The browser holds only a random token; the row is keyed by the
token's SHA-256, so someone who reads the database cannot use what they read as a cookie."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from portal.models.base import Base, utcnow


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (sa.Index(None, "identity_provider_id", "provider_session_id"),)

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Who vouched for the sign-in, and the provider's own session id (`sid`), so the provider's
    # back-channel logout can end exactly this session.
    identity_provider_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("identity_providers.id", ondelete="CASCADE")
    )
    provider_session_id: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    # Working state only (CSRF token, sign-in transactions, Flask-Login's keys): never
    # personal data or content.
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LogoutTokenUse(Base):
    """A provider's back-channel logout token the portal has acted on, remembered until the
    token could no longer be accepted: the same token (its `jti`) sent again is refused by
    every web process. Expired rows are deleted as new tokens arrive."""

    __tablename__ = "logout_token_uses"

    identity_provider_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("identity_providers.id", ondelete="CASCADE"), primary_key=True
    )
    # The jti's SHA-256 (hex): a fixed width whatever the provider's jti is.
    jti_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
