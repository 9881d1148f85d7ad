"""The social worker reviews a submitted version: reads it (an audited read), then accepts,
returns it for more information naming the sections to revisit and a new due date, or
rejects it with a reason. Acceptance queues the CMS delivery in the same transaction."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.contributions import pages, services
from portal.contributions.pages import Contribution, ReviewDecision
from portal.form_fields import parse_day, too_far_ahead
from portal.requests.access import DelegationRequest, council_may_change, councils_request
from portal.uk_time import uk_today

blueprint = Blueprint("review", __name__, url_prefix="/requests/<reference>/versions/<version>")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
REASON_LIMIT = 2000
DECIDED_MEANWHILE = "Someone else decided on this version a moment ago: their decision stands"


@blueprint.get("")
@access(COUNCIL_STAFF)
def show(reference: str, version: str) -> ResponseReturnValue:
    found = councils_request(reference)
    contribution = pages.sent_version(db.session(), found, version) or abort(404)
    page = pages.review_page(db.session(), db.cipher(), found, contribution, current_user)
    return _render(page, {}, 200)


def _render(page: pages.ReviewPage, errors: dict[str, str], status: int) -> ResponseReturnValue:
    return render_template(
        "contributions/review.html", **vars(page), errors=errors, form_values=request.form
    ), status


@blueprint.post("/decision")
@access(COUNCIL_STAFF)
def decide(reference: str, version: str) -> ResponseReturnValue:
    found = councils_request(reference)
    contribution = pages.sent_version(db.session(), found, version) or abort(404)
    if not council_may_change(current_user, found):
        abort(403)
    errors, decision, new_due_on = _read_decision(found)
    if errors or decision is None:
        return _sent_back(found, contribution, errors, 400)
    try:
        with services.one_at_a_time(db.session(), DECIDED_MEANWHILE):
            services.decide(
                db.session(),
                db.cipher(),
                found,
                contribution,
                current_user,
                actor_for(current_user),
                decision,
                reason=request.form.get("reason", "").strip() or None,
                sections=request.form.getlist("sections"),
                new_due_on=new_due_on,
            )
    except services.ContributionRefused as refused:
        return _sent_back(found, contribution, {"decision": str(refused)}, 409)
    return redirect(url_for("requests.show", reference=found.reference))


def _sent_back(
    found: DelegationRequest,
    contribution: Contribution,
    errors: dict[str, str],
    status: int,
) -> ResponseReturnValue:
    page = pages.review_page(db.session(), db.cipher(), found, contribution, current_user)
    return _render(page, errors, status)


def _read_decision(
    found: DelegationRequest,
) -> tuple[dict[str, str], ReviewDecision | None, date | None]:
    errors: dict[str, str] = {}
    try:
        decision = ReviewDecision(request.form.get("decision", ""))
    except ValueError:
        return {"decision": "Select what to do with these answers"}, None, None
    reason = request.form.get("reason", "").strip()
    if decision != ReviewDecision.ACCEPTED and not reason:
        errors["reason"] = "Enter what the partner needs to know about your decision"
    if len(reason) > REASON_LIMIT:
        errors["reason"] = f"Reason must be {REASON_LIMIT:,} characters or fewer"
    sections = {part.id for part in pages.template_of(found).sections}
    if any(value not in sections for value in request.form.getlist("sections")):
        errors["sections"] = "Select the parts from the list shown"
    new_due_on: date | None = None
    if decision == ReviewDecision.RETURNED:
        if not request.form.getlist("sections"):
            errors["sections"] = "Select the parts the partner should look at again"
        try:
            new_due_on = parse_day(request.form.getlist("new_due_on"), "New due date")
        except ValueError as error:
            errors["new_due_on"] = str(error)
        else:
            if new_due_on is None:
                errors["new_due_on"] = "Enter the new due date"
            elif new_due_on < uk_today():
                errors["new_due_on"] = "The new due date must be today or in the future"
            elif too_late := too_far_ahead(new_due_on, "New due date"):
                errors["new_due_on"] = too_late
    return errors, decision, new_due_on
