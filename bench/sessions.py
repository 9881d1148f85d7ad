"""Signed-in sessions for the benchmark's people, made as a sign-in makes them
(portal.auth.sessions.rotate followed by Flask-Login's login_user) but without the round trip
to an identity provider: the figures measure pages, not signing in (whose own costs, one
token exchange and a signature check per sign-in, are tested elsewhere)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.auth.sessions import token_hash
from portal.models import User
from portal.models.sessions import WebSession

COOKIE = "portal-session"


def signed_in(engine: Engine, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """A session for each person; returns their cookie values (the tokens)."""
    now = datetime.now(UTC)
    tokens = {user_id: secrets.token_urlsafe(32) for user_id in user_ids}
    with Session(engine) as session, session.begin():
        for user_id, token in tokens.items():
            if session.get(User, user_id) is None:
                raise LookupError(f"no person {user_id} to sign in")
            # No identity provider session to end it: back-channel logout is not exercised.
            session.add(
                WebSession(
                    token_hash=token_hash(token),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=8),
                    data={"_user_id": str(user_id), "_fresh": True, "_id": "bench"},
                )
            )
    return tokens
