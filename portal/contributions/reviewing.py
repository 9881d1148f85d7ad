"""The social worker reviews a submitted version: reads it (an audited read), then accepts,
returns it for more information naming the sections to revisit and a new due date, or
rejects it with a reason. Acceptance queues the CMS delivery in the same transaction."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.policy import access, roles
from portal.contributions import services
from portal.contributions.answers_form import fields_of, shown
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.form_fields import parse_day, too_far_ahead
from portal.forms_catalogue import catalogue
from portal.lifecycle import ContributionStatus, RequestStatus
from portal.models import Contribution, DelegationRequest, ReviewDecision, Role
from portal.requests import services as requests
from portal.requests.access import council_may_change, councils_request
from portal.uk_time import uk_today

blueprint = Blueprint("review", __name__, url_prefix="/requests/<reference>/versions/<version>")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)
REASON_LIMIT = 2000


def _found(reference: str, version: str) -> tuple[DelegationRequest, Contribution]:
    found = councils_request(reference)
    for contribution in services.versions(db.session(), found):
        if str(contribution.version) == version and contribution.submitted_at is not None:
            return found, contribution
    abort(404)


@blueprint.get("")
@access(COUNCIL_STAFF)
def show(reference: str, version: str) -> ResponseReturnValue:
    found, contribution = _found(reference, version)
    return _page(found, contribution, {}, 200)


def _page(
    found: DelegationRequest, contribution: Contribution, errors: dict[str, str], status: int
) -> ResponseReturnValue:
    if found.content_shredded_at is not None:
        # Past its retention period: nothing left to read (or to record as read).
        return render_template(
            "contributions/review.html",
            request_=found,
            contribution=contribution,
            shredded_on=found.content_shredded_at,
            errors=errors,
        ), status
    session = db.session()
    cipher = RecordCipher(keyring(), session)
    record_event(
        session,
        AuditAction.CONTRIBUTION_VIEWED,
        actor=actor_for(current_user),
        object_type="contribution",
        object_id=contribution.id,
        case_reference=found.case.cms_reference,
        details={"request": found.reference, "version": contribution.version},
    )
    if status >= 400:
        session.commit()  # the read stays on the record though the decision is sent back
    template = catalogue().get(found.form_template, found.form_template_version)
    answers = services.answers_of(cipher, contribution)
    children = [
        (str(child.id), cipher.open_text(child, "name_enc") or "")
        for child in requests.children_of(found)
    ]
    rows = [
        (part, [(f, shown(f.question, answers.get(f.key))) for f in fields_of(part, children)])
        for part in template.sections
    ]
    return render_template(
        "contributions/review.html",
        request_=found,
        contribution=contribution,
        rows=rows,
        sections=template.sections,
        errors=errors,
        can_decide=contribution.status == ContributionStatus.SUBMITTED
        and found.status == RequestStatus.SUBMITTED
        and council_may_change(current_user, found),
        form_values=request.form,
        documents=[(a, cipher.open_text(a, "filename_enc")) for a in contribution.attachments],
    ), status


@blueprint.post("/decision")
@access(COUNCIL_STAFF)
def decide(reference: str, version: str) -> ResponseReturnValue:
    found, contribution = _found(reference, version)
    if not council_may_change(current_user, found):
        abort(403)
    errors, decision, new_due_on = _read_decision(found)
    sections = {
        part.id
        for part in catalogue().get(found.form_template, found.form_template_version).sections
    }
    if any(value not in sections for value in request.form.getlist("sections")):
        errors["sections"] = "Select the parts from the list shown"
    if errors or decision is None:
        return _page(found, contribution, errors, 400)
    session = db.session()
    reason = request.form.get("reason", "").strip() or None
    try:
        services.decide(
            session,
            RecordCipher(keyring(), session),
            found,
            contribution,
            current_user,
            actor_for(current_user),
            decision,
            reason=reason,
            sections=request.form.getlist("sections"),
            new_due_on=new_due_on,
        )
    except services.ContributionRefused as refused:
        return _page(found, contribution, {"decision": str(refused)}, 409)
    except (StaleDataError, IntegrityError):
        session.rollback()
        message = "Someone else decided on this version a moment ago: their decision stands"
        return _page(found, contribution, {"decision": message}, 409)
    return redirect(url_for("requests.show", reference=found.reference))


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
