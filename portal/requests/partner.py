"""The partner's side: the inbox of requests addressed to them, and each request's page."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.requests import pages, services
from portal.requests.access import DelegationRequest, partners_request
from portal.requests.forms import RouteForm
from portal.requests.recipients import partner_people
from portal.uk_time import uk_today

blueprint = Blueprint("inbox", __name__, url_prefix="/inbox")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


@blueprint.get("")
@access(PARTNERS)
def index() -> ResponseReturnValue:
    found = services.inbox(db.session(), current_user)
    return render_template("inbox/index.html", requests=found, today=uk_today())


@blueprint.get("/<reference>")
@access(PARTNERS)
def show(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    return _show(found, _route_form(found), 200)


def _route_form(found: DelegationRequest) -> RouteForm:
    form = RouteForm()
    people = partner_people(db.session(), [found.partner_organisation_id])
    form.colleague.choices = [SelectChoice("", "Choose a colleague")] + [
        SelectChoice(str(person.id), person.display_name) for person in people
    ]
    return form


def _show(found: DelegationRequest, route_form: RouteForm, status: int) -> ResponseReturnValue:
    page = pages.partner_request_page(db.session(), db.cipher(), found, current_user)
    return render_template(
        "inbox/show.html",
        **vars(page),
        route_form=route_form if current_user.has_role(Role.PARTNER_LEAD) else None,
        form=route_form,  # the layout's error summary lists its errors
        routed=request.args.get("routed") == "1",
        saved=request.args.get("saved") == "1",
        today=uk_today(),
    ), status


@blueprint.post("/<reference>/route")
@access(roles(Role.PARTNER_LEAD))
def route(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    form = _route_form(found)
    if form.validate_on_submit():
        try:
            services.route(db.session(), found, actor_for(current_user), form.colleague.data or "")
            return redirect(url_for("inbox.show", reference=found.reference, routed=1))
        except services.RequestRefused as refused:
            form.colleague.errors = [refused.message]
    return _show(found, form, 400)
