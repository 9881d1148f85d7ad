"""Flask-Login wiring: the signed-in person is reloaded, and re-checked, on every request."""

from __future__ import annotations

import uuid

from flask import Flask, session

from portal import db
from portal.audit import Actor
from portal.auth import sessions
from portal.extensions import login_manager
from portal.models.users import User


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # Server-side sessions end on sign-out and timeouts; Flask-Login's address-and-browser
    # check would also end them when a phone changes network, for no security gain here.
    login_manager.session_protection = None
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    # Only the server-side session row can say who is signed in: never Flask-Login's
    # "remember me" cookie, which is a mere signature over the user id.
    if getattr(session, "user_id", None) != key:
        return None
    # Read with the session itself (portal/auth/sessions.py), in this request's transaction.
    person = getattr(session, "person", None)
    user = person if person is not None and person.id == key else db.session().get(User, key)
    # A suspended or pending person's session ends at their next request, as does that of
    # anyone whose organisation is suspended or has left.
    if user is None or not user.is_active or not user.organisation.in_service:
        sessions.discard(session, db.session())  # type: ignore[arg-type]
        return None
    return user


def actor_for(user: User) -> Actor:
    role = ",".join(sorted(role.value for role in user.roles)) or None
    return Actor(user_id=user.id, organisation_id=user.organisation_id, role=role)
