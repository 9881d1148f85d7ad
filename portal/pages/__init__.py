"""The start page, the signed-in home page, and the service's information pages."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.policy import PUBLIC, access
from portal.home import home_sections
from portal.uk_time import uk_today

blueprint = Blueprint("pages", __name__)


@blueprint.get("/")
@access(PUBLIC)
def start() -> ResponseReturnValue:
    if current_user.is_authenticated:
        sections = home_sections(db.session(), current_user, uk_today())
        return render_template("pages/home.html", sections=sections)
    return render_template("pages/start.html")


@blueprint.get("/accessibility")
@access(PUBLIC)
def accessibility() -> ResponseReturnValue:
    settings = current_app.config["PORTAL_SETTINGS"]
    return render_template(
        "pages/accessibility.html",
        session_settings=settings.auth,
        accessibility_contact=settings.service.accessibility_contact_email,
    )


@blueprint.get("/privacy")
@access(PUBLIC)
def privacy() -> ResponseReturnValue:
    settings = current_app.config["PORTAL_SETTINGS"]
    return render_template("pages/privacy.html", retention_years=settings.audit.retention_years)


@blueprint.get("/cookies")
@access(PUBLIC)
def cookies() -> ResponseReturnValue:
    settings = current_app.config["PORTAL_SETTINGS"]
    return render_template("pages/cookies.html", session_settings=settings.auth)
