"""Sign-in through the person's organisation's provider, sign-out, and the provider-facing
endpoints (callbacks, back-channel logout, the portal's public keys)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
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
from portal.audit import AuditAction, record_event, record_event_apart
from portal.audit.record import DetailValue
from portal.auth import oidc, sessions
from portal.auth.login import actor_for
from portal.auth.oidc import flow, identity
from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.registry import published_keys
from portal.auth.oidc.tokens import check_logout_token_claims, verify_signature
from portal.auth.policy import PUBLIC, SIGNED_IN, access, safe_next_path
from portal.config import Settings
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.extensions import csrf
from portal.models import AuditOutcome, IdentityProvider, Organisation, User
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
        provider = _provider_for_email(form.email.data or "")
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
    providers = db.session().scalars(
        sa.select(IdentityProvider)
        .join(Organisation)
        .where(IdentityProvider.enabled.is_(True))
        .order_by(Organisation.name, IdentityProvider.display_name)
    )
    return render_template(
        "auth/choose_organisation.html",
        providers=list(providers),
        next_path=safe_next_path(request.args.get("next")),
    )


@blueprint.get("/sign-in/start/<slug>")
@access(PUBLIC)
def start(slug: str) -> ResponseReturnValue:
    provider = _provider(slug)
    try:
        if not provider.enabled:
            raise SignInFailure("provider_disabled", status=403)
        metadata = oidc.directory().metadata(provider.issuer)
    except SignInFailure as failure:
        return _refused(provider, failure)
    url = flow.begin(
        session,
        provider,
        metadata,
        redirect_uri=_callback_url(provider),
        next_path=safe_next_path(request.args.get("next")),
    )
    return redirect(url)


@blueprint.get("/sign-in/callback/<slug>")
@access(PUBLIC)
def callback(slug: str) -> ResponseReturnValue:
    provider = _provider(slug)
    store = db.session()
    try:
        # Taken out of the session first: a state, and so a code, is good for one try only.
        transaction = flow.take_transaction(session, request.args.get("state"))
        if not provider.enabled:
            raise SignInFailure("provider_disabled", status=403)
        directory = oidc.directory()
        metadata = directory.metadata(provider.issuer)
        verified = flow.complete(
            transaction,
            request.args,
            provider,
            metadata,
            directory,
            _credentials(provider),
            skew=_settings().auth.clock_skew_seconds,
        )
        resolution = identity.resolve_user(
            store, provider, verified.id_token_claims, verified.userinfo
        )
    except SignInFailure as failure:
        return _refused(provider, failure)

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

    if resolution.roles_changed:
        record(AuditAction.ROLES_CHANGED, source="identity_provider", roles=_roles(user))
    if resolution.outcome == identity.Outcome.AWAITING_APPROVAL:
        record(AuditAction.USER_AWAITING_APPROVAL)
        return redirect(url_for("auth.awaiting_approval"))
    if resolution.outcome == identity.Outcome.PROVISIONED:
        record(AuditAction.USER_PROVISIONED, roles=_roles(user))
    record(AuditAction.SIGN_IN)
    sessions.rotate(
        session,  # type: ignore[arg-type]
        store,
        user_id=user.id,
        identity_provider_id=provider.id,
        provider_session_id=verified.provider_session_id,
        absolute=sessions.absolute_lifetime(_settings()),
    )
    login_user(user)
    return redirect(safe_next_path(verified.next_path) or url_for("pages.start"))


@blueprint.get("/sign-in/waiting-for-approval")
@access(PUBLIC)
def awaiting_approval() -> ResponseReturnValue:
    return render_template("auth/awaiting_approval.html")


@blueprint.post("/sign-in/back-channel-logout/<slug>")
@access(PUBLIC)  # authorised by the provider's signed logout token, not a session
@csrf.exempt
def back_channel_logout(slug: str) -> ResponseReturnValue:
    provider = _provider(slug)
    store = db.session()
    try:
        raw = request.form.get("logout_token", "")
        if not provider.enabled or not raw or len(raw) > 16_384:
            raise SignInFailure("malformed_token")
        metadata = oidc.directory().metadata(provider.issuer)
        claims = verify_signature(
            raw,
            algorithms=provider.signing_algorithms,
            keys=lambda refresh: oidc.directory().keys(metadata, refresh=refresh),
        )
        check_logout_token_claims(
            claims,
            issuer=provider.issuer,
            client_id=provider.client_id,
            skew=_settings().auth.clock_skew_seconds,
        )
    except SignInFailure as failure:
        provider_id = provider.id  # read before the rollback expires it, as in _refused
        store.rollback()
        record_event_apart(
            db.database().sessions,
            AuditAction.LOGOUT_TOKEN_REFUSED,
            outcome=AuditOutcome.FAILURE,
            object_type="identity_provider",
            object_id=provider_id,
            details={"reason": failure.reason},
        )
        response = jsonify(error="invalid_request", error_description=failure.reason)
        return response, 400
    user = None
    if isinstance(claims.get("sub"), str):
        user = store.scalar(
            sa.select(User).where(User.issuer == provider.issuer, User.subject == claims["sub"])
        )
    sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    ended = 0
    if sid is not None or user is not None:
        ended = sessions.end_sessions(
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
    provider = store.get(IdentityProvider, provider_id) if provider_id else None
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


def _provider(slug: str) -> IdentityProvider:
    provider = db.session().scalar(sa.select(IdentityProvider).where(IdentityProvider.slug == slug))
    if provider is None:
        abort(404)
    return provider


def _provider_for_email(email: str) -> IdentityProvider | None:
    domain = email.rsplit("@", 1)[-1].strip().lower()
    candidates = [
        provider
        for provider in db.session().scalars(
            sa.select(IdentityProvider).where(IdentityProvider.enabled.is_(True))
        )
        if domain in provider.allowed_email_domains
    ]
    return candidates[0] if len(candidates) == 1 else None


def _callback_url(provider: IdentityProvider) -> str:
    return _settings().service.base_url + url_for("auth.callback", slug=provider.slug)


def _credentials(provider: IdentityProvider) -> flow.Credentials:
    cipher = RecordCipher(keyring(), db.session())
    if provider.client_key_enc is not None:
        return flow.Credentials(private_jwk=cipher.open_json(provider, "client_key_enc"))
    return flow.Credentials(client_secret=cipher.open_text(provider, "client_secret_enc"))


def _refused(provider: IdentityProvider, failure: SignInFailure) -> ResponseReturnValue:
    """No session, a clear page, and the refusal on the audit trail."""
    # Read before the rollback expires `provider`: reloading it would reopen the request's
    # transaction, and the refusal must be recorded with none open.
    provider_id, slug = provider.id, provider.slug
    db.session().rollback()
    record_event_apart(
        db.database().sessions,
        AuditAction.SIGN_IN_FAILED,
        outcome=AuditOutcome.FAILURE,
        object_type="identity_provider",
        object_id=provider_id,
        details={"provider": slug, "reason": failure.reason},
    )
    count_sign_in_failure(failure.reason)
    return render_template("auth/sign_in_failed.html", failure=failure), failure.status


def _roles(user: User) -> str:
    return ",".join(sorted(role.value for role in user.roles))


def _text(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) else None
