"""The social worker's cases: "Your cases" (the team's cases the portal holds) and a case's
page, with its children and its requests, from which to ask a partner about it."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.policy import Role, access, roles
from portal.pagination import asked_page, govuk_pagination, to_last_page
from portal.requests import case_pages
from portal.requests.forms import CaseLookupForm
from portal.uk_time import uk_today

blueprint = Blueprint("cases", __name__, url_prefix="/cases")
COUNCIL_STAFF = roles(Role.SOCIAL_WORKER, Role.TEAM_MANAGER)


@blueprint.get("")
@access(COUNCIL_STAFF)
def index() -> ResponseReturnValue:
    page = case_pages.team_cases_page(
        db.session(), db.cipher(), current_user, asked_page(request.args.get("page"))
    )
    if past := to_last_page(page.number, page.pages, _page_href):
        return past
    return render_template(
        "requests/cases.html",
        page=page,
        pagination=govuk_pagination(page.number, page.pages, _page_href),
    )


def _page_href(number: int) -> str:
    return url_for("cases.index", page=number)


@blueprint.get("/<cms_reference>")
@access(COUNCIL_STAFF)
def show(cms_reference: str) -> ResponseReturnValue:
    """A case of the person's team: another team's case, or one the portal does not hold, is
    not there (404), as in the find-a-case flow."""
    page = case_pages.case_page(db.session(), db.cipher(), current_user, cms_reference, uk_today())
    if page is None:
        abort(404)
    # The button asks the CMS again (the find-a-case flow) before the new request's page.
    form = CaseLookupForm(reference=page.reference)
    return render_template("requests/case.html", page=page, form=form, today=uk_today())
