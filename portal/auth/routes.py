"""Sign-in through the person's organisation's provider, sign-out, and the provider-facing
endpoints (callbacks, back-channel logout, the portal's public keys)."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovTextInput
from wtforms import EmailField
from wtforms.validators import DataRequired, Length, Regexp

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth import back_channel, oidc, providers, sessions, signing_in
from portal.auth.login import actor_for
from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.registry import published_keys
from portal.auth.policy import PUBLIC, SIGNED_IN, access, safe_next_path
from portal.config import Settings
from portal.extensions import csrf
from portal.observability.metrics import count_sign_in_failure

blueprint = Blueprint("auth", __name__)


def _settings() -> Settings:
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    return settings


class WorkEmailForm(FlaskForm):
    email = EmailField(
        "Work email address",
        widget=GovTextInput(),
        validators=[
            DataRequired(message="Enter your work email address"),
            Length(max=320, message="Email address must be 320 characters or fewer"),
            # Only the domain matters here (it finds the provider); the provider checks the rest.
            Regexp(
                r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
                message="Enter an email address in the correct format, like name@school.sch.uk",
            ),
        ],
    )


@blueprint.route("/sign-in", methods=["GET", "POST"])
@access(PUBLIC)
def sign_in() -> ResponseReturnValue:
    next_path = safe_next_path(request.args.get("next"))
    form = WorkEmailForm()
    if form.validate_on_submit():
        provider = providers.provider_for_email(db.session(), form.email.data or "")
        if provider is not None:
            return render_template(
                "auth/leaving.html",
                heading="Sign in",
                message=f"Taking you to {provider.display_name} to sign in.",
                destination=url_for("auth.start", slug=provider.slug, next=next_path),
            )
        form.email.errors = [
            "We do not recognise the organisation for this email address. Choose your "
            "organisation from the list instead"
        ]
    status = 400 if form.errors else 200
    return render_template(
        "auth/sign_in.html", form=form, next_path=next_path, ended=request.args.get("ended")
    ), status


@blueprint.get("/sign-in/organisations")
@access(PUBLIC)
def choose_organisation() -> ResponseReturnValue:
    return render_template(
        "auth/choose_organisation.html",
        providers=providers.providers_to_choose(db.session()),
        next_path=safe_next_path(request.args.get("next")),
    )


@blueprint.get("/sign-in/start/<slug>")
@access(PUBLIC)
def start(slug: str) -> ResponseReturnValue:
    provider = providers.provider_by_slug(db.session(), slug) or abort(404)
    try:
        url = signing_in.begin(
            session,
            provider,
            redirect_uri=_callback_url(provider.slug),
            next_path=safe_next_path(request.args.get("next")),
        )
    except SignInFailure as failure:
        return _refused(failure, provider.id, provider.slug)
    return redirect(url)


@blueprint.get("/sign-in/callback/<slug>")
@access(PUBLIC)
def callback(slug: str) -> ResponseReturnValue:
    store = db.session()
    provider = providers.provider_by_slug(store, slug) or abort(404)
    try:
        signed_in = signing_in.complete(
            store,
            session,
            request.args,
            provider,
            db.cipher(),
            skew=_settings().auth.clock_skew_seconds,
        )
    except SignInFailure as failure:
        return _refused(failure, provider.id, provider.slug)
    if signed_in.awaiting_approval:
        return redirect(url_for("auth.awaiting_approval"))
    sessions.rotate(
        session,  # type: ignore[arg-type]
        store,
        user_id=signed_in.user.id,
        identity_provider_id=provider.id,
        provider_session_id=signed_in.provider_session_id,
        absolute=sessions.absolute_lifetime(_settings()),
    )
    login_user(signed_in.user)
    return redirect(safe_next_path(signed_in.next_path) or url_for("pages.start"))


@blueprint.get("/sign-in/waiting-for-approval")
@access(PUBLIC)
def awaiting_approval() -> ResponseReturnValue:
    return render_template("auth/awaiting_approval.html")


@blueprint.post("/sign-in/back-channel-logout/<slug>")
@access(PUBLIC)  # authorised by the provider's signed logout token, not a session
@csrf.exempt
def back_channel_logout(slug: str) -> ResponseReturnValue:
    provider = providers.provider_by_slug(db.session(), slug) or abort(404)
    try:
        back_channel.end_provider_sessions(
            db.session(),
            provider,
            request.form.get("logout_token", ""),
            skew=_settings().auth.clock_skew_seconds,
        )
    except SignInFailure as failure:
        return _logout_refused(failure, provider.id)
    return "", 200


@blueprint.get("/.well-known/jwks.json")
@access(PUBLIC)
def jwks() -> ResponseReturnValue:
    """The public keys the portal signs private_key_jwt client assertions with."""
    response = jsonify(published_keys(db.session()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.post("/sign-out")
@access(SIGNED_IN)
def sign_out() -> ResponseReturnValue:
    store = db.session()
    record_event(store, AuditAction.SIGN_OUT, actor=actor_for(current_user))
    provider_id = session.identity_provider_id  # type: ignore[attr-defined]
    sessions.discard(session, store)  # type: ignore[arg-type]
    logout_user()
    signed_out = _settings().service.base_url + url_for("auth.signed_out")
    provider = providers.provider_by_id(store, provider_id)
    if provider is not None:
        try:
            end_session = oidc.directory().metadata(provider.issuer).end_session_endpoint
        except SignInFailure:
            end_session = None  # the provider is down: the portal's own session is over anyway
        if end_session:
            query = urlencode(
                {"client_id": provider.client_id, "post_logout_redirect_uri": signed_out}
            )
            separator = "&" if "?" in end_session else "?"
            return render_template(
                "auth/leaving.html",
                heading="Signing you out",
                message=f"Taking you to {provider.display_name} to finish signing out.",
                destination=f"{end_session}{separator}{query}",
            )
    return redirect(url_for("auth.signed_out"))


@blueprint.get("/signed-out")
@access(PUBLIC)
def signed_out() -> ResponseReturnValue:
    return render_template("auth/signed_out.html")


def _callback_url(slug: str) -> str:
    return _settings().service.base_url + url_for("auth.callback", slug=slug)


def _refused(failure: SignInFailure, provider_id: uuid.UUID, slug: str) -> ResponseReturnValue:
    """No session, a clear page, and the refusal on the audit trail (the error response rolls
    the request's transaction back; the request boundary keeps the refusal)."""
    signing_in.record_refusal(provider_id, slug, failure.reason)
    count_sign_in_failure(failure.reason)
    return render_template("auth/sign_in_failed.html", failure=failure), failure.status


def _logout_refused(failure: SignInFailure, provider_id: uuid.UUID) -> ResponseReturnValue:
    back_channel.record_refusal(provider_id, failure.reason)
    return jsonify(error="invalid_request", error_description=failure.reason), 400
