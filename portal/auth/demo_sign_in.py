"""Demo-only role picker, until OIDC sign-in lands. Never registered in production, and
production refuses to start with it enabled (portal.config)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput
from wtforms import RadioField, SubmitField
from wtforms.validators import InputRequired

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for, start_session
from portal.auth.policy import PUBLIC, access, safe_next_path
from portal.models.base import utcnow
from portal.models.users import User, UserStatus

DEMO_ISSUER = "urn:portal:demo-sign-in"

CHOOSE_SOMEONE = "Select who you want to sign in as"

blueprint = Blueprint("demo_sign_in", __name__, url_prefix="/demo")


class DemoSignInForm(FlaskForm):
    user = RadioField(
        "Who do you want to sign in as?",
        widget=GovRadioInput(),
        # The view checks the choice itself, so the error reads as GOV.UK's pattern says.
        validate_choice=False,
        validators=[InputRequired(message=CHOOSE_SOMEONE)],
    )
    submit = SubmitField("Sign in", widget=GovSubmitInput())


def _demo_users() -> list[User]:
    query = (
        sa.select(User)
        .where(User.issuer == DEMO_ISSUER, User.status == UserStatus.ACTIVE)
        .order_by(User.display_name)
    )
    return list(db.session().scalars(query))


@blueprint.route("/sign-in", methods=["GET", "POST"])
@access(PUBLIC)
def choose() -> ResponseReturnValue:
    users = _demo_users()
    form = DemoSignInForm()
    form.user.choices = [(str(user.id), _label(user)) for user in users]
    if form.validate_on_submit():
        user = _chosen(form.user.data)
        if user is None:
            form.user.errors = [CHOOSE_SOMEONE]
        else:
            user.last_signed_in_at = utcnow()
            record_event(
                db.session(),
                AuditAction.SIGN_IN,
                actor=actor_for(user),
                details={"method": "demo"},
            )
            start_session(user)
            next_path = safe_next_path(request.args.get("next"))
            return redirect(next_path or url_for("pages.start"))
    status = 400 if form.errors else 200
    return render_template("auth/demo_sign_in.html", form=form), status


def _chosen(choice: str | None) -> User | None:
    try:
        user = db.session().get(User, uuid.UUID(choice or ""))
    except ValueError:
        return None
    if user is None or user.issuer != DEMO_ISSUER or not user.is_active:
        return None
    return user


def _label(user: User) -> str:
    roles = ", ".join(sorted(role.label for role in user.roles))
    return f"{user.display_name}: {roles}, {user.organisation.name}"
