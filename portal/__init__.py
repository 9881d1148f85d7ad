"""The partner delegation portal: the Flask application factory."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import ConfigError, Settings, load_settings, read_secret_key

__all__ = ["ConfigError", "create_app"]


def create_app(settings: Settings | None = None, *, check_database: bool = True) -> Flask:
    """Build the app: config, extensions, templates, security hooks, blueprints, error pages.

    With `check_database` (every serving process) start-up also proves the schema is current
    and the keyring belongs to the database; the CLI skips that so it can migrate and register.
    """
    from portal import db, errors, forms_catalogue, http_headers, observability, startup, templating
    from portal.audit import runtime as audit_runtime
    from portal.auth import login, oidc, policy, rate_limits, sessions
    from portal.crypto import FileKeyring, KeyringError, runtime
    from portal.extensions import csrf

    settings = settings or load_settings()
    observability.configure_logging(settings.observability.log_format)
    app = errors.PortalFlask(__name__, static_folder="static/govuk", static_url_path="/assets")
    _configure(app, settings)

    db.init_app(app, settings.database.url)
    try:
        runtime.init_app(app, FileKeyring.load(settings.keyring.path), settings.keyring.path)
    except KeyringError as error:
        raise ConfigError(str(error)) from None
    sessions.init_app(app, settings)
    audit_runtime.init_app(app, settings)
    csrf.init_app(app)
    login.init_app(app)
    oidc.init_app(app, settings)
    forms_catalogue.init_app(app, settings.requests.forms_directory)

    templating.init_app(app)
    http_headers.init_app(app)
    observability.init_app(app, settings)
    policy.init_app(app)
    _register_blueprints(app, settings)
    rate_limits.init_app(app, settings)
    errors.init_app(app)
    _trust_proxies(app, settings.security.proxy_hops)

    if check_database:
        try:
            startup.check_ready_to_serve(app)
        except ConfigError:
            db.database(app).engine.dispose()
            raise
    return app


def _configure(app: Flask, settings: Settings) -> None:
    secure = settings.security.session_cookie_secure
    app.config.update(
        PORTAL_SETTINGS=settings,
        SECRET_KEY=read_secret_key(settings),
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        TRAP_HTTP_EXCEPTIONS=False,
        # Ordinary forms are small; attachments (a later capability) stream on their own limit.
        MAX_CONTENT_LENGTH=1024 * 1024,
        # __Host- binds the cookie to this exact host over HTTPS; plain-HTTP demo cannot use it.
        SESSION_COOKIE_NAME="__Host-portal-session" if secure else "portal-session",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.auth.absolute_timeout_hours),
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead, which expires on its own
        WTF_CSRF_SSL_STRICT=secure,
    )


def _trust_proxies(app: Flask, hops: int) -> None:
    """Behind `hops` reverse proxies, take the client's address and scheme from the entries
    they add to X-Forwarded-For and X-Forwarded-Proto (the rightmost `hops`, never what the
    client wrote before them). The host is not taken from X-Forwarded-Host: the proxy passes
    the public host in Host itself (infra/nginx), so a header it forgot to overwrite can never
    choose it; nor port or prefix, which the portal does not use. Outermost, so that every
    part of the app sees the corrected request."""
    if hops:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0
        )


def _register_blueprints(app: Flask, settings: Settings) -> None:
    from portal.admin.deliveries import blueprint as deliveries
    from portal.admin.routes import blueprint as admin
    from portal.audit.evidence import blueprint as audit_evidence
    from portal.audit.public_log import blueprint as audit_log
    from portal.audit.workspace import blueprint as audit
    from portal.auth.keep_alive import blueprint as keep_alive
    from portal.auth.routes import blueprint as auth
    from portal.contributions.answering import blueprint as answer
    from portal.contributions.copies import blueprint as sent_copy
    from portal.contributions.files import blueprint as files
    from portal.contributions.reviewing import blueprint as review
    from portal.health.routes import blueprint as health
    from portal.observability.routes import blueprint as observability
    from portal.onboarding.approvals import blueprint as changes
    from portal.onboarding.routes import blueprint as onboarding
    from portal.pages import blueprint as pages
    from portal.people.routes import blueprint as people
    from portal.pilot.feedback import blueprint as feedback
    from portal.pilot.offline import blueprint as offline
    from portal.pilot.routes import blueprint as pilot
    from portal.receipts.routes import blueprint as receipts
    from portal.requests.casework import blueprint as cases
    from portal.requests.council import blueprint as requests
    from portal.requests.partner import blueprint as inbox
    from portal.retention.routes import blueprint as legal_holds

    app.register_blueprint(health)
    app.register_blueprint(observability)
    app.register_blueprint(pages)
    app.register_blueprint(auth)
    app.register_blueprint(keep_alive)
    app.register_blueprint(people)
    app.register_blueprint(changes)
    app.register_blueprint(requests)
    app.register_blueprint(cases)
    app.register_blueprint(inbox)
    app.register_blueprint(answer)
    app.register_blueprint(sent_copy)  # helper A (issue 20): the partner's copy
    app.register_blueprint(receipts)  # helper A (issue 20): anyone checks a receipt
    app.register_blueprint(review)
    app.register_blueprint(files)
    app.register_blueprint(admin)
    app.register_blueprint(deliveries)
    app.register_blueprint(audit)
    app.register_blueprint(audit_evidence)
    app.register_blueprint(audit_log)  # issue 21: the log's public heads and proofs
    app.register_blueprint(legal_holds)
    app.register_blueprint(onboarding)
    app.register_blueprint(pilot)
    app.register_blueprint(feedback)
    app.register_blueprint(offline)
