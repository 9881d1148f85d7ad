"""The partner's copy of what it sent: a sent version's page and its PDF, which carries the
receipt (portal/contributions/sent_copy.py says who may have them)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.policy import access
from portal.contributions import confirmations
from portal.contributions.answering import PARTNERS
from portal.contributions.copy_pdf import copy_pdf
from portal.contributions.sent_copy import SentCopy, find_copy, sent_copy

blueprint = Blueprint("sent_copy", __name__, url_prefix="/inbox/<reference>/versions/<version>")


@blueprint.get("/copy")
@access(PARTNERS)
def page(reference: str, version: str) -> ResponseReturnValue:
    copy = _copy(reference, version, "copy_page")
    return render_template("contributions/sent_copy.html", copy=copy)


@blueprint.get("/copy.pdf")
@access(PARTNERS)
def pdf(reference: str, version: str) -> ResponseReturnValue:
    copy = _copy(reference, version, "copy_pdf")
    response = Response(copy_pdf(copy), mimetype="application/pdf")
    name = f"sent-{copy.request_.reference}-v{copy.version}.pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _copy(reference: str, version: str, shown_as: str) -> SentCopy:
    found = find_copy(db.session(), current_user, reference, version) or abort(404)
    request_, contribution = found
    police = current_app.config["PORTAL_SETTINGS"].requests.police_identifiers
    seen = confirmations.identifiers_seen_by(request_, police)
    return sent_copy(
        db.session(), db.cipher(), request_, contribution, current_user, seen, shown_as
    )
