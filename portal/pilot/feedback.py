"""A partner's feedback after sending: GOV.UK's satisfaction question and "How could we
improve this service?" (optional, sealed, never about a child). Once per version; skippable."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.pilot import feedback_pages
from portal.pilot.forms import FeedbackForm
from portal.requests.access import partners_request

blueprint = Blueprint("feedback", __name__, url_prefix="/inbox/<reference>/receipts/<version>")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


@blueprint.route("/feedback", methods=["GET", "POST"])
@access(PARTNERS)
def give(reference: str, version: str) -> ResponseReturnValue:
    found = partners_request(reference)
    session = db.session()
    sent = feedback_pages.sent_version(session, found, version)
    if sent is None or sent.submitted_by_id != current_user.id:
        abort(404)  # only the person who sent a version rates sending it
    form = FeedbackForm()
    given = feedback_pages.feedback_given(session, sent)
    if not given and form.validate_on_submit():
        try:
            feedback_pages.give(
                session,
                db.cipher(),
                sent,
                actor_for(current_user),
                form.rating.data or "",
                form.comment.data,
            )
            return redirect(url_for("feedback.give", reference=reference, version=version))
        except feedback_pages.PilotRefused as refused:
            getattr(form, refused.field).errors = [refused.message]
    status = 400 if form.errors else (409 if given and form.is_submitted() else 200)
    return render_template(
        "pilot/feedback.html", request_=found, version=version, form=form, given=given
    ), status
