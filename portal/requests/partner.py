"""The partner's side: the inbox of requests addressed to them, and each request's page."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.contributions.sent_copy import copies_kept, sent_versions
from portal.lifecycle import RequestStatus
from portal.pagination import asked_page, govuk_pagination, to_last_page
from portal.requests import inbox, pages, services
from portal.requests.access import ClosedToPartner, DelegationRequest, partners_request
from portal.requests.forms import RouteForm
from portal.requests.recipients import partner_people
from portal.uk_time import uk_today

blueprint = Blueprint("inbox", __name__, url_prefix="/inbox")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


@blueprint.app_errorhandler(ClosedToPartner)
def closed(error: ClosedToPartner) -> ResponseReturnValue:
    """Any partner page of a request withdrawn or closed since this person could open it (the
    inbox's, the answering pages', documents', receipts'): when, and by which team, never what
    it asked. A form sent to it saved nothing, and the page says so. It links the copies of
    what the organisation sent that this person may keep."""
    sent = sent_versions(db.session(), error.found)
    return render_template(
        "inbox/closed.html",
        closure=error.closure,
        sent_any=bool(sent),
        copies=copies_kept(current_user, error.found, sent),
        posted=request.method == "POST",
        statuses=RequestStatus,
    ), 410


@blueprint.get("")
@access(PARTNERS)
def index() -> ResponseReturnValue:
    number = asked_page(request.args.get("page"))
    filters = inbox.InboxFilters.from_args(request.args)
    today = uk_today()
    session = db.session()
    found = inbox.inbox_page(session, current_user, number, filters, today)
    if past := to_last_page(found.number, found.pages, partial(_page_href, filters)):
        return past
    return render_template(
        "inbox/index.html",
        inbox=inbox.with_children(session, db.cipher(), found, current_user),
        counts=inbox.inbox_counts(session, current_user, today),
        pagination=_pagination(found),
        statuses=inbox.STATUS_LABELS,
        dues=inbox.DUE_LABELS,
        today=today,
    )


def _page_href(filters: inbox.InboxFilters, number: int) -> str:
    arguments: dict[str, Any] = filters.args() | {"page": number}
    return url_for("inbox.index", **arguments)


def _pagination(page: inbox.InboxPage) -> dict[str, Any]:
    """govukPagination's parameters, each link keeping the filters."""
    return govuk_pagination(page.number, page.pages, partial(_page_href, page.filters))


@blueprint.get("/<reference>")
@access(PARTNERS)
def show(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    leads = current_user.has_role(Role.PARTNER_LEAD)
    return _show(found, _route_form(found) if leads else None, 200)


def _route_form(found: DelegationRequest) -> RouteForm:
    form = RouteForm()
    people = partner_people(db.session(), [found.partner_organisation_id])
    form.colleague.choices = [SelectChoice("", "Choose a colleague")] + [
        SelectChoice(str(person.id), person.display_name) for person in people
    ]
    return form


def _show(
    found: DelegationRequest, route_form: RouteForm | None, status: int
) -> ResponseReturnValue:
    """The request's page; `route_form` is the partner lead's, to pass it to a colleague."""
    police = current_app.config["PORTAL_SETTINGS"].requests.police_identifiers
    page = pages.partner_request_page(db.session(), db.cipher(), found, current_user, police)
    return render_template(
        "inbox/show.html",
        **vars(page),
        route_form=route_form,
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
