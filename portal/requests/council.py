"""The social worker's side: issue a request on a case, follow it, revoke or extend it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.config import Settings
from portal.forms_catalogue import catalogue
from portal.lifecycle import REQUEST_LIFECYCLE, RequestStatus
from portal.pagination import asked_page, govuk_pagination, to_last_page
from portal.requests import child_identity, mine, pages, services
from portal.requests.access import DelegationRequest, council_may_change, councils_request
from portal.requests.child_identity import PartnerOrganisation
from portal.requests.forms import CaseLookupForm, ExtendForm, RequestForm, RevokeForm
from portal.requests.pages import CaseSummary
from portal.requests.recipients import partner_people
from portal.uk_time import last_uk_day, uk_today

blueprint = Blueprint("requests", __name__, url_prefix="/requests")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)


def _settings() -> Settings:
    settings: Settings = current_app.config["PORTAL_SETTINGS"]
    return settings


@blueprint.get("")
@access(COUNCIL_STAFF)
def dashboard() -> ResponseReturnValue:
    """My requests: the person's own requests or their team's, filtered and a page at a time."""
    partners = mine.partners_of(db.session(), current_user)
    filters = mine.Filters.read(
        request.args.get("case", ""),
        request.args.get("partner", ""),
        request.args.get("status", ""),
        request.args.get("whose", ""),
        usual=mine.usual_whose(current_user),
        partners=[partner_id for partner_id, _ in partners],
    )
    page = mine.my_requests_page(
        db.session(),
        db.cipher(),
        current_user,
        filters,
        uk_today(),
        asked_page(request.args.get("page")),
    )
    if past := to_last_page(page.number, page.pages, partial(_page_href, filters)):
        return past
    return render_template(
        "requests/dashboard.html",
        page=page,
        filters=filters,
        partners=partners,
        statuses=mine.STATUS_CHOICES,
        whose_choices=mine.WHOSE_CHOICES if current_user.team_id is not None else (),
        case_error=mine.CASE_REFERENCE_ERROR if filters.case_refused else None,
        pagination=_pagination(page, filters),
        today=uk_today(),
    )


def _page_href(filters: mine.Filters, number: int) -> str:
    kept: dict[str, Any] = {
        "case": filters.case or None,
        "partner": str(filters.partner) if filters.partner else None,
        "status": filters.status or None,
        "whose": None if filters.whose == mine.usual_whose(current_user) else filters.whose,
    }
    return url_for("requests.dashboard", page=number, **kept)


def _pagination(page: mine.MyRequestsPage, filters: mine.Filters) -> dict[str, Any]:
    return govuk_pagination(page.number, page.pages, partial(_page_href, filters))


@blueprint.route("/new", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def find_case() -> ResponseReturnValue:
    form = CaseLookupForm()
    if form.validate_on_submit():
        reference = (form.reference.data or "").strip()
        lookup = pages.look_up_case(db.session(), db.cipher(), current_user, reference)
        if lookup.unavailable is not None:
            form.reference.errors = [lookup.unavailable]
            return render_template("requests/find_case.html", form=form), 503
        if lookup.case is not None:
            return redirect(url_for("requests.new", case_reference=lookup.case.reference))
        form.reference.errors = ["There is no case with that reference: check it and try again"]
    status = 400 if form.errors else 200
    return render_template("requests/find_case.html", form=form), status


@blueprint.route("/new/<case_reference>", methods=["GET", "POST"])
@access(COUNCIL_STAFF)
def new(case_reference: str) -> ResponseReturnValue:
    case = pages.case_to_ask_about(db.session(), db.cipher(), current_user, case_reference)
    if case is None:
        abort(404)
    partner_organisations = services.partners(db.session(), uk_today())
    form = _request_form(case, partner_organisations)
    if request.method == "GET":
        settings = _settings().requests
        today = uk_today()
        form.due_on.data = today + timedelta(days=settings.default_due_days)
        form.expires_on.data = today + timedelta(days=settings.default_expiry_days)
    step = request.form.get("step")
    valid = request.method == "POST" and step != "change" and form.validate()
    identity = _identity(case, form, partner_organisations)
    if valid and step == "issue":
        return _issue(case, form, identity)
    if valid:
        return render_template(
            "requests/check.html", form=form, case=case, choices=_labels(form), identity=identity
        )
    status = 400 if form.errors else 200
    return render_template("requests/new.html", form=form, case=case, identity=identity), status


def _identity(
    case: CaseSummary, form: RequestForm, organisations: Sequence[PartnerOrganisation]
) -> child_identity.BeforeIssuing:
    """What the CMS holds for each child, and the warnings for the chosen children and
    partner."""
    return child_identity.before_issuing(
        case.children,
        form.children.data or [],
        child_identity.chosen_partner(organisations, form.partner.data),
        _settings().requests.police_identifiers,
    )


def _issue(
    case: CaseSummary, form: RequestForm, identity: child_identity.BeforeIssuing
) -> ResponseReturnValue:
    session = db.session()
    partner_id = form.partner.data or ""
    try:
        template = pages.template_for_partner(session, form.form_template.data or "", partner_id)
        new_request = services.NewRequest(
            case_id=case.id,
            child_ids=tuple(uuid.UUID(value) for value in form.children.data or []),
            partner_organisation_id=uuid.UUID(partner_id),
            named_recipient_id=uuid.UUID(form.named_recipient.data)
            if form.named_recipient.data
            else None,
            form_template=template.id,
            form_template_version=template.version,
            lawful_basis=form.lawful_basis.data or "",
            purpose=(form.purpose.data or "").strip(),
            message=(form.message.data or "").strip() or None,
            due_on=form.due_on.data,  # type: ignore[arg-type]  # required by the form
            expires_on=form.expires_on.data,  # type: ignore[arg-type]
        )
        issued = services.issue(
            session,
            db.cipher(),
            current_user,
            actor_for(current_user),
            new_request,
            _settings().requests.police_identifiers,
        )
    except services.RequestRefused as refused:
        getattr(form, refused.field, form.partner).errors = [refused.message]
        return render_template("requests/new.html", form=form, case=case, identity=identity), 400
    return redirect(url_for("requests.show", reference=issued.reference, issued=1))


def _request_form(
    case: CaseSummary, partner_organisations: Sequence[PartnerOrganisation]
) -> RequestForm:
    session = db.session()
    form = RequestForm()
    people = partner_people(session, [p.id for p in partner_organisations])
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
    page = pages.council_request_page(
        db.session(), db.cipher(), found, current_user, _settings().requests.lawful_bases
    )
    if extend_form.due_on.data is None and not extend_form.errors:
        extend_form.due_on.data = found.due_on
        extend_form.expires_on.data = last_uk_day(found.expires_at)
    return render_template(
        "requests/show.html",
        **vars(page),
        revoke_form=revoke_form,
        extend_form=extend_form,
        # The layout's error summary lists the errors of `form`.
        form=revoke_form if revoke_form.errors else extend_form,
        issued=request.args.get("issued") == "1",
        today=uk_today(),
    ), status


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
    reason = (form.reason.data or "").strip()
    try:
        services.revoke(db.session(), db.cipher(), found, actor_for(current_user), reason)
    except services.RequestRefused as refused:
        form.reason.errors = [refused.message]
        return _show(found, form, ExtendForm(), 409)
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
