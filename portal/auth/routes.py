"""Sign-in entry point and sign-out."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for, end_session
from portal.auth.policy import PUBLIC, SIGNED_IN, access, safe_next_path

blueprint = Blueprint("auth", __name__)


@blueprint.get("/sign-in")
@access(PUBLIC)
def sign_in() -> ResponseReturnValue:
    next_path = safe_next_path(request.args.get("next"))
    if "demo_sign_in.choose" in current_app.view_functions:
        return redirect(url_for("demo_sign_in.choose", next=next_path))
    return render_template("auth/sign_in_unavailable.html")


@blueprint.post("/sign-out")
@access(SIGNED_IN)
def sign_out() -> ResponseReturnValue:
    record_event(db.session(), AuditAction.SIGN_OUT, actor=actor_for(current_user))
    end_session()
    return redirect(url_for("auth.signed_out"))


@blueprint.get("/signed-out")
@access(PUBLIC)
def signed_out() -> ResponseReturnValue:
    return render_template("auth/signed_out.html")
