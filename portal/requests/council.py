"""The social worker's side: issue a request on a case, follow it, revoke or extend it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.policy import access, roles
from portal.cases.directory import (
    Asker,
    CaseLookupUnavailable,
    CaseSummary,
    LocalCaseDirectory,
)
from portal.config import Settings
from portal.connector.runtime import case_directory
from portal.contributions.services import versions as contribution_versions
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.forms_catalogue import TemplateNotFound, catalogue
from portal.lifecycle import REQUEST_LIFECYCLE, RequestStatus
from portal.models import DelegationRequest, Organisation, Role
from portal.requests import services
from portal.requests.access import council_may_change, council_may_work_on, councils_request
from portal.requests.forms import CaseLookupForm, ExtendForm, RequestForm, RevokeForm
from portal.uk_time import last_uk_day, uk_today

blueprint = Blueprint("requests", __name__, url_prefix="/requests")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)


def _settings() -> Settings:
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    return settings


def _cipher() -> RecordCipher:
    return RecordCipher(keyring(), db.session())


@blueprint.get("")
@access(COUNCIL_STAFF)
def dashboard() -> ResponseReturnValue:
    found = services.council_requests(db.session(), current_user)
    return render_template("requests/dashboard.html", requests=found, today=uk_today())


@blueprint.route("/new", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def find_case() -> ResponseReturnValue:
    form = CaseLookupForm()
    if form.validate_on_submit():
        reference = (form.reference.data or "").strip()
        unavailable: CaseLookupUnavailable | None = None
        asker = Asker(
            council_id=current_user.organisation_id,
            may_work_on=lambda team_id: council_may_work_on(current_user, team_id),
            actor=actor_for(current_user),
        )
        try:
            case = case_directory(db.session(), _cipher(), asker).find(reference)
        except CaseLookupUnavailable as error:
            case, unavailable = None, error
        if case is not None and not council_may_work_on(current_user, case.team_id):
            case = None  # another team's case: as if it were not there
        record_event(
            db.session(),
            AuditAction.CASE_LOOKED_UP,
            actor=actor_for(current_user),
            case_reference=reference[:64],
            details={"found": case is not None, "cms_unavailable": unavailable is not None},
        )
        if unavailable is not None:
            form.reference.errors = [str(unavailable)]
            db.session().commit()
            return render_template("requests/find_case.html", form=form), 503
        if case is not None:
            db.session().commit()  # the lookup stays on the record whatever happens next
            return redirect(url_for("requests.new", case_reference=case.reference))
        form.reference.errors = ["There is no case with that reference: check it and try again"]
        db.session().commit()
    status = 400 if form.errors else 200
    return render_template("requests/find_case.html", form=form), status


@blueprint.route("/new/<case_reference>", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def new(case_reference: str) -> ResponseReturnValue:
    session = db.session()
    # The lookup has just brought the portal's copy of the case in step with the CMS.
    case = LocalCaseDirectory(session, _cipher()).find(case_reference)
    if case is None or not council_may_work_on(current_user, case.team_id):
        abort(404)
    form = _request_form(case)
    if request.method == "GET":
        settings = _settings().requests
        today = uk_today()
        form.due_on.data = today + timedelta(days=settings.default_due_days)
        form.expires_on.data = today + timedelta(days=settings.default_expiry_days)
    # Showing the children's names and dates of birth is a read of their details.
    record_event(
        session,
        AuditAction.CHILD_DETAILS_VIEWED,
        actor=actor_for(current_user),
        object_type="case",
        object_id=case.reference,
        case_reference=case.reference,
        details={"children": len(case.children)},
    )
    step = request.form.get("step")
    if request.method == "POST" and step != "change" and form.validate():
        if step == "issue":
            return _issue(case, form)
        return render_template("requests/check.html", form=form, case=case, choices=_labels(form))
    status = 400 if form.errors else 200
    if status == 400:
        session.commit()  # the read is recorded even though the form is sent back
    return render_template("requests/new.html", form=form, case=case), status


def _issue(case: CaseSummary, form: RequestForm) -> ResponseReturnValue:
    session = db.session()
    template_id, _, version = (form.form_template.data or "").partition(":")
    partner = db.session().get(Organisation, uuid.UUID(form.partner.data or ""))
    try:
        template = catalogue().get(template_id, int(version))
    except (TemplateNotFound, ValueError):
        form.form_template.errors = ["Select the questions to ask"]
        db.session().commit()  # keep the read of the children's details on the record
        return render_template("requests/new.html", form=form, case=case), 400
    if partner is not None and partner.kind.value not in template.for_organisation_kinds:
        form.form_template.errors = [
            f"These questions are not for a {partner.kind.value} organisation: choose others"
        ]
        db.session().commit()  # keep the read of the children's details on the record
        return render_template("requests/new.html", form=form, case=case), 400
    new_request = services.NewRequest(
        case_id=case.id,
        child_ids=tuple(uuid.UUID(value) for value in form.children.data or []),
        partner_organisation_id=uuid.UUID(form.partner.data or ""),
        named_recipient_id=uuid.UUID(form.named_recipient.data)
        if form.named_recipient.data
        else None,
        form_template=template_id,
        form_template_version=int(version),
        lawful_basis=form.lawful_basis.data or "",
        purpose=(form.purpose.data or "").strip(),
        message=(form.message.data or "").strip() or None,
        due_on=form.due_on.data,  # type: ignore[arg-type]  # required by the form
        expires_on=form.expires_on.data,  # type: ignore[arg-type]
    )
    try:
        issued = services.issue(
            session, _cipher(), current_user, actor_for(current_user), new_request
        )
    except services.RequestRefused as refused:
        getattr(form, refused.field, form.partner).errors = [refused.message]
        session.commit()  # keep the read of the children's details on the record
        return render_template("requests/new.html", form=form, case=case), 400
    return redirect(url_for("requests.show", reference=issued.reference, issued=1))


def _request_form(case: CaseSummary) -> RequestForm:
    session = db.session()
    form = RequestForm()
    partner_organisations = services.partners(session, uk_today())
    people = services.partner_people(session, [p.id for p in partner_organisations])
    names = {organisation.id: organisation.name for organisation in partner_organisations}
    templates = [
        (
            f"{template.id}:{template.version}",
            f"{template.title} (for {', '.join(template.for_organisation_kinds)})",
        )
        for template in catalogue().latest_of_each()
    ]
    form.set_choices(
        children=[
            (str(child.id), f"{child.name}, born {child.date_of_birth:%-d %B %Y}")
            for child in case.children
        ],
        partners=[(str(o.id), o.name) for o in partner_organisations],
        people=[(str(p.id), f"{p.display_name} ({names[p.organisation_id]})") for p in people],
        templates=templates,
        lawful_bases=[(b.code, b.label) for b in _settings().requests.lawful_bases],
    )
    if request.method == "GET" and len(case.children) == 1:
        form.children.data = [str(case.children[0].id)]
    return form


def _labels(form: RequestForm) -> dict[str, str]:
    """What each chosen value reads as, for the check-your-answers page."""

    def label(field: object, value: str | None) -> str:
        for choice in getattr(field, "choices", []):
            if choice.value == value:
                return str(choice.label)
        return ""

    return {
        "children": ", ".join(label(form.children, v) for v in form.children.data or []),
        "partner": label(form.partner, form.partner.data),
        "named_recipient": label(form.named_recipient, form.named_recipient.data),
        "form_template": label(form.form_template, form.form_template.data),
        "lawful_basis": label(form.lawful_basis, form.lawful_basis.data),
    }


@blueprint.get("/<reference>")
@access(COUNCIL_STAFF)
def show(reference: str) -> ResponseReturnValue:
    found = councils_request(reference)
    return _show(found, RevokeForm(), ExtendForm(), 200)


def _show(
    found: DelegationRequest, revoke_form: RevokeForm, extend_form: ExtendForm, status: int
) -> ResponseReturnValue:
    session = db.session()
    cipher = _cipher()
    record_event(
        session,
        AuditAction.REQUEST_VIEWED,
        actor=actor_for(current_user),
        object_type="delegation_request",
        object_id=found.reference,
        case_reference=found.case.cms_reference,
    )
    if status >= 400:
        session.commit()
    if extend_form.due_on.data is None and not extend_form.errors:
        extend_form.due_on.data = found.due_on
        extend_form.expires_on.data = last_uk_day(found.expires_at)
    return render_template(
        "requests/show.html",
        request_=found,
        purpose=cipher.open_text(found, "purpose_enc"),
        message=cipher.open_text(found, "message_enc"),
        children=[
            (cipher.open_text(child, "name_enc"), cipher.open_text(child, "date_of_birth_enc"))
            for child in services.children_of(found)
        ],
        can_change=council_may_change(current_user, found),
        revoke_form=revoke_form,
        extend_form=extend_form,
        # The layout's error summary lists the errors of `form`.
        form=revoke_form if revoke_form.errors else extend_form,
        issued=request.args.get("issued") == "1",
        lawful_basis=_lawful_basis_label(found.lawful_basis),
        template_title=_template_title(found),
        versions=contribution_versions(session, found),
        delivery=services.delivery_of(session, found),
        today=uk_today(),
    ), status


def _lawful_basis_label(code: str) -> str:
    return next((b.label for b in _settings().requests.lawful_bases if b.code == code), code)


def _template_title(found: DelegationRequest) -> str:
    try:
        return catalogue().get(found.form_template, found.form_template_version).title
    except TemplateNotFound:
        return found.form_template


@blueprint.post("/<reference>/revoke")
@access(COUNCIL_STAFF)
def revoke(reference: str) -> ResponseReturnValue:
    found = councils_request(reference)
    if not council_may_change(current_user, found):
        abort(403)
    form = RevokeForm()
    if not REQUEST_LIFECYCLE.allows(found.status, RequestStatus.REVOKED):
        form.reason.errors = ["This request can no longer be withdrawn"]
        return _show(found, form, ExtendForm(), 409)
    if not form.validate_on_submit():
        return _show(found, form, ExtendForm(), 400)
    services.revoke(
        db.session(), _cipher(), found, actor_for(current_user), (form.reason.data or "").strip()
    )
    return redirect(url_for("requests.show", reference=found.reference))


@blueprint.post("/<reference>/extend")
@access(COUNCIL_STAFF)
def extend(reference: str) -> ResponseReturnValue:
    found = councils_request(reference)
    if not council_may_change(current_user, found):
        abort(403)
    form = ExtendForm()
    if form.validate_on_submit():
        try:
            services.extend(
                db.session(),
                found,
                actor_for(current_user),
                form.due_on.data,  # type: ignore[arg-type]  # required by the form
                form.expires_on.data,  # type: ignore[arg-type]
            )
            return redirect(url_for("requests.show", reference=found.reference))
        except services.RequestRefused as refused:
            getattr(form, refused.field).errors = [refused.message]
    return _show(found, RevokeForm(), form, 400)
