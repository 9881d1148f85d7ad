"""A social worker records that a request was answered outside the portal (by phone, at a
meeting…) and why: the request is withdrawn in the same transaction, and digital take-up
counts it (docs/pilot.md)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.pilot import recording
from portal.pilot.forms import OfflineAnswerForm
from portal.requests.access import DelegationRequest, council_may_change, councils_request

blueprint = Blueprint("offline", __name__, url_prefix="/requests/<reference>")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)


@blueprint.route("/answered-elsewhere", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def answered_elsewhere(reference: str) -> ResponseReturnValue:
    found = councils_request(reference)
    if not council_may_change(current_user, found):
        abort(403)
    form = OfflineAnswerForm()
    if not recording.may_answer_elsewhere(found):
        return _page(found, form, closed=True), 409
    if form.validate_on_submit():
        try:
            given = recording.offline_answer_given(form.channel.data or "", form.reason.data or "")
            recording.answer_elsewhere(
                db.session(), db.cipher(), found, current_user, actor_for(current_user), given
            )
        except recording.PilotRefused as refused:
            getattr(form, refused.field).errors = [refused.message]
            return _page(found, form), 409
        return redirect(url_for("requests.show", reference=found.reference))
    return _page(found, form), 400 if form.errors else 200


def _page(found: DelegationRequest, form: OfflineAnswerForm, closed: bool = False) -> str:
    return render_template(
        "pilot/answered_elsewhere.html",
        request_=found,
        form=form,
        closed=recording.why_not_elsewhere(found) if closed else None,
    )
