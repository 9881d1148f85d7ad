"""The information-governance officer's legal holds page: the requests on hold, a form to
place a hold by request reference and reason, and a button to release each."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovTextInput
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Regexp

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.retention import holds
from portal.retention.holds import HoldReason

blueprint = Blueprint("legal_holds", __name__, url_prefix="/audit/legal-holds")
IG_ONLY = roles(Role.IG_OFFICER)


def _reference(value: str | None) -> str | None:
    return holds.normalise_reference(value) if isinstance(value, str) else value


class HoldForm(FlaskForm):
    reference = StringField(
        "Request reference",
        description="As the social worker or the audit trail gives it, like DR-7KQ2M9XA.",
        widget=GovTextInput(),
        filters=[_reference],
        validators=[
            DataRequired(message="Enter the request reference"),
            Regexp(
                holds.REFERENCE_PATTERN,
                message="Enter a request reference like DR-7KQ2M9XA",
            ),
        ],
    )
    reason = RadioField(
        "Why must its content be kept?",
        description="Keep the details in the council’s own case or legal file, not here.",
        choices=[SelectChoice(reason.value, reason.label) for reason in HoldReason],
        widget=GovRadioInput(),
        validators=[DataRequired(message="Select why the content must be kept")],
    )


@blueprint.get("")
@access(IG_ONLY)
def index() -> ResponseReturnValue:
    return _page(HoldForm(), 200)


@blueprint.post("")
@access(IG_ONLY)
def place() -> ResponseReturnValue:
    form = HoldForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    reference = form.reference.data or ""
    try:
        holds.place_hold(
            db.session(),
            reference,
            HoldReason(form.reason.data),
            actor_for(current_user),
            current_user,
        )
    except holds.HoldRefused as refused:
        form.reference.errors = [str(refused)]
        return _page(form, 400)
    flash(
        f"{reference} is on legal hold: its content will be kept until you release it.", "success"
    )
    return redirect(url_for("legal_holds.index"))


@blueprint.post("/<reference>/release")
@access(IG_ONLY)
def release(reference: str) -> ResponseReturnValue:
    if not holds.REFERENCE_PATTERN.match(reference):
        abort(404)
    try:
        holds.release_hold(db.session(), reference, actor_for(current_user))
    except holds.HoldRefused:
        abort(404)  # no such request, or not on hold (released a moment ago by someone else)
    flash(
        f"The legal hold on {reference} is released: its content will be deleted when its "
        "retention period has passed.",
        "success",
    )
    return redirect(url_for("legal_holds.index"))


def _page(form: HoldForm, status: int) -> ResponseReturnValue:
    kept = current_app.config["PORTAL_SETTINGS"].retention
    periods = (
        f"{kept.delivered_days} days after delivery to the case record; "
        f"{kept.rejected_days} days after rejection, {kept.revoked_days} after withdrawal, "
        f"{kept.expired_days} after expiry and {kept.child_not_known_days} after the partner "
        "said it knows none of the children"
    )
    return render_template(
        "retention/legal_holds.html",
        form=form,
        held=holds.held_requests(db.session()),
        periods=periods,
    ), status
