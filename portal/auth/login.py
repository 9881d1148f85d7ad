"""Flask-Login wiring: the signed-in person is reloaded, and re-checked, on every request."""

from __future__ import annotations

import uuid

from flask import Flask, session
from flask_login import login_user, logout_user

from portal import db
from portal.audit import Actor
from portal.extensions import login_manager
from portal.models.users import User


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "strong"
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = None


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        return None
    user = db.session().get(User, key)
    # A suspended or pending person's session ends at their next request.
    if user is None or not user.is_active:
        return None
    return user


def start_session(user: User) -> None:
    """Sign `user` in with a fresh session: nothing from before sign-in carries over."""
    session.clear()
    login_user(user)
    session.permanent = True


def end_session() -> None:
    logout_user()
    session.clear()


def actor_for(user: User) -> Actor:
    role = ",".join(sorted(role.value for role in user.roles)) or None
    return Actor(user_id=user.id, organisation_id=user.organisation_id, role=role)
