"""The partner answers a request: a page per section, drafts saved encrypted and resumed,
check your answers, a declaration, submit, and a signed receipt."""

from __future__ import annotations

import json

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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal import db
from portal.attachments.refusals import message_for
from portal.audit import AuditAction, record_event
from portal.audit.runtime import audit_keys
from portal.auth.login import actor_for
from portal.auth.policy import access, roles
from portal.contributions import receipts, services
from portal.contributions.answers_form import (
    Field,
    fields_of,
    file_fields_of,
    first_section_with_error,
    read_section,
    section_after,
    section_errors,
    shown,
)
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.forms_catalogue import FormTemplate, catalogue
from portal.models import Contribution, DelegationRequest, Role
from portal.requests import services as requests
from portal.requests.access import partners_request

blueprint = Blueprint("answer", __name__, url_prefix="/inbox/<reference>")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


def _cipher() -> RecordCipher:
    return RecordCipher(keyring(), db.session())


def _template(found: DelegationRequest) -> FormTemplate:
    return catalogue().get(found.form_template, found.form_template_version)


def _children(found: DelegationRequest) -> list[tuple[str, str]]:
    cipher = _cipher()
    return [
        (str(child.id), cipher.open_text(child, "name_enc") or "")
        for child in requests.children_of(found)
    ]


@blueprint.get("/answer")
@access(PARTNERS)
def start(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    first = _template(found).sections[0].id
    return redirect(url_for("answer.section", reference=found.reference, section_id=first))


@blueprint.route("/answer/<section_id>", methods=["GET", "POST"])
@access(PARTNERS)
def section(reference: str, section_id: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if found.status not in services.ANSWERABLE:
        return redirect(url_for("inbox.show", reference=found.reference))
    template = _template(found)
    part = next((s for s in template.sections if s.id == section_id), None)
    if part is None:
        abort(404)
    fields = fields_of(part, _children(found))
    answers = services.working_answers(db.session(), _cipher(), found)
    errors: dict[str, str] = {}
    if request.method == "POST":
        posted = read_section(fields, request.form)
        errors = section_errors(fields, posted)
        answers = {**answers, **posted}
        if not errors:
            services.save_section(
                db.session(),
                _cipher(),
                found,
                current_user,
                actor_for(current_user),
                section_id,
                posted,
            )
            if request.form.get("action") == "later":
                return redirect(url_for("inbox.show", reference=found.reference, saved=1))
            following = section_after(template, section_id)
            if following is None:
                return redirect(url_for("answer.check", reference=found.reference))
            return redirect(
                url_for("answer.section", reference=found.reference, section_id=following)
            )
    file_fields = file_fields_of(part, _children(found))
    errors.update(_upload_error(file_fields))
    if any(field.child_name for field in (*fields, *file_fields)):
        _record_child_details_read(found, bool(errors))
    draft = services.draft_of(db.session(), found)
    attachments = draft.attachments if draft else []
    cipher = _cipher()
    return render_template(
        "contributions/section.html",
        request_=found,
        template=template,
        section=part,
        fields=fields,
        file_fields=file_fields,
        files={
            f.key: [
                (a, cipher.open_text(a, "filename_enc"))
                for a in attachments
                if a.answer_key == f.key
            ]
            for f in file_fields
        },
        added=request.args.get("added"),
        answers=answers,
        errors=errors,
        position=[s.id for s in template.sections].index(section_id) + 1,
    ), (400 if errors else 200)


def _record_child_details_read(found: DelegationRequest, sent_back: bool) -> None:
    """The page names the children: a read of their details, on the record even when the page
    is sent back with errors (whose response rolls the request's transaction back)."""
    session = db.session()
    record_event(
        session,
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(current_user),
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
    )
    if sent_back:
        session.commit()


def _upload_error(file_fields: list[Field]) -> dict[str, str]:
    """A refused upload's message, carried across the redirect as a reason code."""
    key, reason = request.args.get("key"), request.args.get("refused")
    if not key or not reason or key not in {f.key for f in file_fields}:
        return {}
    settings = current_app.config["PORTAL_SETTINGS"].attachments
    message = message_for(reason, settings.max_bytes, settings.allowed_types)
    return {key: message} if message else {}


@blueprint.get("/answer/check")
@access(PARTNERS)
def check(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    return _check_page(found, {}, 200)


def _check_page(
    found: DelegationRequest, errors: dict[str, str], status: int, declaration_error: bool = False
) -> ResponseReturnValue:
    template = _template(found)
    draft = services.draft_of(db.session(), found)
    if draft is None:
        return redirect(url_for("answer.start", reference=found.reference))
    cipher = _cipher()
    answers = services.answers_of(cipher, draft)
    children = _children(found)
    _record_child_details_read(found, status >= 400)

    def documents(key: str) -> str:
        attached = [a for a in draft.attachments if a.answer_key == key]
        return (
            ", ".join(cipher.open_text(a, "filename_enc") or "" for a in attached) or "None added"
        )

    rows = [
        (
            part,
            [
                (field, shown(field.question, answers.get(field.key)))
                for field in fields_of(part, children)
            ]
            + [(field, documents(field.key)) for field in file_fields_of(part, children)],
        )
        for part in template.sections
    ]
    return render_template(
        "contributions/check.html",
        request_=found,
        rows=rows,
        errors=errors,
        declaration_error=declaration_error,
        first_error_section=first_section_with_error(template, errors),
    ), status


@blueprint.post("/answer/submit")
@access(PARTNERS)
def submit(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    if request.form.get("declaration") != "yes":
        return _check_page(found, {}, 400, declaration_error=True)
    signer = audit_keys().signer
    if signer is None:
        abort(503)
    session = db.session()
    try:
        outcome = services.submit(
            session,
            _cipher(),
            signer,
            found,
            _template(found),
            current_user,
            actor_for(current_user),
        )
    except services.ContributionRefused:
        return _already_sent(found)
    except (StaleDataError, IntegrityError):
        session.rollback()
        return _already_sent(found)
    if isinstance(outcome, dict):
        return _check_page(found, outcome, 400)
    return redirect(url_for("answer.receipt", reference=found.reference, version=outcome.version))


def _already_sent(found: DelegationRequest) -> ResponseReturnValue:
    return render_template("contributions/already_sent.html", request_=found), 409


def _submitted(found: DelegationRequest, version: str) -> Contribution:
    for contribution in services.versions(db.session(), found):
        if str(contribution.version) == version and contribution.submitted_at is not None:
            return contribution
    abort(404)


@blueprint.get("/receipts/<version>")
@access(PARTNERS)
def receipt(reference: str, version: str) -> ResponseReturnValue:
    found = partners_request(reference)
    contribution = _submitted(found, version)
    return render_template(
        "contributions/receipt.html",
        request_=found,
        receipt=receipts.receipt_document(found, contribution),
    )


@blueprint.get("/receipts/<version>/download")
@access(PARTNERS)
def download_receipt(reference: str, version: str) -> ResponseReturnValue:
    found = partners_request(reference)
    document = receipts.receipt_document(found, _submitted(found, version))
    response = Response(json.dumps(document, indent=2) + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="receipt-{found.reference}-v{document["version"]}.json"'
    )
    return response
