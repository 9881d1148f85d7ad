"""The partner answers a request: first which of its children they know, then a page per
section, drafts saved encrypted and resumed, check your answers, a declaration, submit, and a
signed receipt."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.audit.runtime import audit_keys
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.contributions import confirmations, documents, pages, receipts, services
from portal.contributions.answers_form import (
    Field,
    read_section,
    section_after,
    section_errors,
    unasked,
)
from portal.lifecycle import RequestStatus
from portal.pilot.recording import record_opening
from portal.requests.access import DelegationRequest, partners_request

blueprint = Blueprint("answer", __name__, url_prefix="/inbox/<reference>")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


@blueprint.get("/answer")
@access(PARTNERS)
def start(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if elsewhere := _before_answering(found):
        return elsewhere
    first = pages.template_of(found).sections[0].id
    return redirect(url_for("answer.section", reference=found.reference, section_id=first))


@blueprint.route("/children", methods=["GET", "POST"])
@access(PARTNERS)
def children(reference: str) -> ResponseReturnValue:
    """Before any answer: which of the children the request names the partner holds a record
    for, and on what it matched. Knowing none closes the request, once they confirm it."""
    found = partners_request(reference)
    if request.method == "GET":  # came straight here (docs/pilot.md); a form follows a GET
        record_opening(db.session(), found, current_user)
    if found.status is RequestStatus.CHILD_NOT_KNOWN:
        return redirect(url_for("inbox.show", reference=found.reference))
    page = _confirmation_page(found)
    if request.method == "GET":
        # Back after losing a race with another window (or with a withdrawal, which the
        # request's own check above has answered with the withdrawn page by now).
        raced = {"children": CHANGED_MEANWHILE} if request.args.get("changed") == "1" else {}
        return _confirming(page, confirmations.current_values(page.children), raced, 200)
    if page.fixed:
        return _confirming(page, confirmations.current_values(page.children), FIXED, 409)
    choices, errors = confirmations.read_confirmations(request.form, page.children)
    if errors:
        return _confirming(page, request.form, errors, 400)
    if confirmations.knows_none(choices) and request.form.get("close") != "yes":
        return render_template(
            "contributions/children_close.html", **vars(page), posted=request.form
        )
    try:
        with services.one_at_a_time(db.session(), CHANGED_MEANWHILE):
            closed = confirmations.save(
                db.session(),
                db.cipher(),
                found,
                current_user,
                choices,
                current_app.config["PORTAL_SETTINGS"].attachments,
            )
    except services.ContributionRefused:
        # Nothing was saved. Someone changed the request meanwhile: a colleague's window, or
        # the council withdrawing it. Start again from a fresh read, whose access check says
        # whether the partner may still see the children at all.
        return redirect(url_for("answer.children", reference=found.reference, changed=1))
    if closed:
        return redirect(url_for("inbox.show", reference=found.reference))
    return redirect(url_for("answer.start", reference=found.reference))


FIXED = {"children": confirmations.FIXED}
CHANGED_MEANWHILE = "These were changed in another window a moment ago: check them and try again"


def _confirmation_page(found: DelegationRequest) -> pages.ConfirmationPage:
    return pages.confirmation_page(
        db.session(), db.cipher(), found, current_user, seen_by_partner(found)
    )


def _confirming(
    page: pages.ConfirmationPage, values: Mapping[str, str], errors: dict[str, str], status: int
) -> ResponseReturnValue:
    return render_template(
        "contributions/children.html", **vars(page), values=values, errors=errors
    ), status


@blueprint.route("/answer/<section_id>", methods=["GET", "POST"])
@access(PARTNERS)
def section(reference: str, section_id: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if request.method == "GET":  # came straight here (docs/pilot.md); a form follows a GET
        record_opening(db.session(), found, current_user)
    if elsewhere := _before_answering(found):
        return elsewhere
    questions = pages.questions_in(db.session(), db.cipher(), found, section_id)
    if questions is None:
        abort(404)
    posted: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    if request.method == "POST":
        posted = read_section(questions.fields, request.form)
        errors = section_errors(questions.fields, posted)
        if unasked([*questions.fields, *questions.file_fields], request.form):
            errors["unasked"] = UNASKED
        if not errors:
            try:
                with services.one_at_a_time(db.session(), "Saved in another tab meanwhile"):
                    services.save_section(
                        db.session(),
                        db.cipher(),
                        found,
                        current_user,
                        actor_for(current_user),
                        section_id,
                        posted,
                    )
            except services.ContributionRefused:
                abort(409)  # another tab saved or sent these answers a moment ago: reload
            return redirect(_after_saving(found, questions, section_id))
    errors.update(_upload_error(questions.file_fields))
    page = pages.section_page(db.session(), db.cipher(), found, questions, current_user, posted)
    return render_template(
        "contributions/section.html",
        **vars(page),
        added=request.args.get("added"),
        errors=errors,
    ), (400 if errors else 200)


UNASKED = "Answer only about the children you said you hold a record for"


def _before_answering(found: DelegationRequest) -> ResponseReturnValue | None:
    """Where the partner goes instead of the questions: to the request's page once it can no
    longer be answered, or to confirm which children they know before anything else."""
    if found.status not in services.ANSWERABLE:
        return redirect(url_for("inbox.show", reference=found.reference))
    return _unconfirmed(found)


def _unconfirmed(found: DelegationRequest) -> ResponseReturnValue | None:
    """Closed because the partner knows none of the children: nothing more to see. Children
    not yet confirmed: confirm them first."""
    if found.status is RequestStatus.CHILD_NOT_KNOWN:
        return redirect(url_for("inbox.show", reference=found.reference))
    if services.needs_confirmation(db.session(), found):
        return redirect(url_for("answer.children", reference=found.reference))
    return None


def seen_by_partner(found: DelegationRequest) -> confirmations.Seen:
    """The child identifiers this partner's pages may show."""
    police = current_app.config["PORTAL_SETTINGS"].requests.police_identifiers
    return confirmations.identifiers_seen_by(found, police)


def _after_saving(found: DelegationRequest, questions: pages.Questions, section_id: str) -> str:
    """Where the partner goes once a section is saved: back to the request ("save and come
    back later"), on to the next section, or to check their answers after the last."""
    if request.form.get("action") == "later":
        return url_for("inbox.show", reference=found.reference, saved=1)
    following = section_after(questions.template, section_id)
    if following is None:
        return url_for("answer.check", reference=found.reference)
    return url_for("answer.section", reference=found.reference, section_id=following)


def _upload_error(file_fields: list[Field]) -> dict[str, str]:
    """A refused upload's message, carried across the redirect as a reason code."""
    key, reason = request.args.get("key"), request.args.get("refused")
    if not key or not reason or key not in {f.key for f in file_fields}:
        return {}
    settings = current_app.config["PORTAL_SETTINGS"].attachments
    message = documents.refusal_message(reason, settings)
    return {key: message} if message else {}


@blueprint.get("/answer/check")
@access(PARTNERS)
def check(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if elsewhere := _unconfirmed(found):
        return elsewhere
    return _check_page(found, {}, 200)


def _check_page(
    found: DelegationRequest, errors: dict[str, str], status: int, declaration_error: bool = False
) -> ResponseReturnValue:
    page = pages.check_page(
        db.session(), db.cipher(), found, current_user, errors, seen_by_partner(found)
    )
    if page is None:
        return redirect(url_for("answer.start", reference=found.reference))
    return render_template(
        "contributions/check.html",
        **vars(page),
        errors=errors,
        declaration_error=declaration_error,
    ), status


@blueprint.post("/answer/submit")
@access(PARTNERS)
def submit(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if elsewhere := _unconfirmed(found):
        return elsewhere
    if request.form.get("declaration") != "yes":
        return _check_page(found, {}, 400, declaration_error=True)
    signer = audit_keys().signer
    if signer is None:
        abort(503)
    try:
        with services.one_at_a_time(db.session(), "These answers were sent a moment ago"):
            outcome = services.submit(
                db.session(),
                db.cipher(),
                signer,
                found,
                pages.template_of(found),
                current_user,
                actor_for(current_user),
            )
    except services.ContributionRefused:
        return _already_sent(found)
    if isinstance(outcome, dict):
        return _check_page(found, outcome, 400)
    return redirect(url_for("answer.receipt", reference=found.reference, version=outcome.version))


def _already_sent(found: DelegationRequest) -> ResponseReturnValue:
    return render_template("contributions/already_sent.html", request_=found), 409


@blueprint.get("/receipts/<version>")
@access(PARTNERS)
def receipt(reference: str, version: str) -> ResponseReturnValue:
    found = partners_request(reference)
    contribution = pages.sent_version(db.session(), found, version) or abort(404)
    page = pages.receipt_page(
        db.session(), db.cipher(), found, contribution, current_user, seen_by_partner(found)
    )
    return render_template("contributions/receipt.html", **vars(page))


@blueprint.get("/receipts/<version>/download")
@access(PARTNERS)
def download_receipt(reference: str, version: str) -> ResponseReturnValue:
    found = partners_request(reference)
    contribution = pages.sent_version(db.session(), found, version) or abort(404)
    document = receipts.receipt_document(found, contribution)
    response = Response(json.dumps(document, indent=2) + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="receipt-{found.reference}-v{document["version"]}.json"'
    )
    return response
