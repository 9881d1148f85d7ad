"""The administrator's view of deliveries to the case management system: the queue's figures,
the deliveries that need attention, and retrying or cancelling one (the connector's outbox
functions do the change and its audit event)."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.connector import outbox

blueprint = Blueprint("deliveries", __name__, url_prefix="/admin/deliveries")

ADMINS = roles(Role.PORTAL_ADMIN)


class DeliveryActionForm(FlaskForm):
    """A retry or cancel button: nothing to fill in but the CSRF token."""


@blueprint.get("")
@access(ADMINS)
def index() -> ResponseReturnValue:
    return _index_page()


@blueprint.post("/<delivery_id>/retry")
@access(ADMINS)
def retry(delivery_id: str) -> ResponseReturnValue:
    message_id = _message_id(delivery_id)
    if not DeliveryActionForm().validate_on_submit():
        abort(400)  # only the page's own buttons post here
    try:
        message = outbox.retry(db.session(), message_id, actor_for(current_user))
    except outbox.DeliveryRefused as refused:
        return _refused(message_id, str(refused))
    row = outbox.delivery_rows(db.session(), [message])[0]
    flash(
        f"The delivery of request {row.request_reference}, version {row.version}, will be "
        "tried again now.",
        "success",
    )
    return redirect(url_for("deliveries.index"))


@blueprint.route("/<delivery_id>/cancel", methods=["GET", "POST"])
@access(ADMINS)
def cancel(delivery_id: str) -> ResponseReturnValue:
    message_id = _message_id(delivery_id)
    form = DeliveryActionForm()
    if form.is_submitted():
        if not form.validate():
            abort(400)  # only the confirmation page's button posts here
        try:
            message = outbox.cancel(db.session(), message_id, actor_for(current_user))
        except outbox.DeliveryRefused as refused:
            return _refused(message_id, str(refused))
        row = outbox.delivery_rows(db.session(), [message])[0]
        flash(
            f"The delivery of request {row.request_reference}, version {row.version}, was "
            "cancelled. Copy the contribution into the case record by hand.",
            "success",
        )
        return redirect(url_for("deliveries.index"))
    found = outbox.delivery(db.session(), message_id) or abort(404)
    return render_template("admin/delivery_cancel.html", row=found, cancellable=found.cancellable)


def _index_page(refused: str | None = None, status: int = 200) -> ResponseReturnValue:
    session = db.session()
    figures = outbox.queue_figures(session)
    return render_template(
        "admin/deliveries.html",
        figures=figures,
        oldest_pending=age_in_words(figures.oldest_pending_seconds),
        rows=outbox.delivery_rows(session, outbox.needing_attention(session)),
        refused=refused,
    ), status


def _message_id(delivery_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(delivery_id)
    except ValueError:
        abort(404)


def _refused(message_id: uuid.UUID, reason: str) -> ResponseReturnValue:
    """The list as it is now, saying why the action was refused; nothing was changed."""
    if outbox.delivery(db.session(), message_id) is None:
        abort(404)
    return _index_page(reason, 409)


def age_in_words(seconds: float) -> str:
    """The oldest waiting delivery's age, to its largest whole unit: "3 hours"."""
    minutes = int(seconds // 60)
    for size, unit in ((24 * 60, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size:
            count = minutes // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"
