"""The partner's side: the inbox of requests addressed to them, and each request's page."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.orm import Session
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.audit import AuditAction, record_event
from portal.auth.login import actor_for
from portal.auth.policy import access, roles
from portal.contributions.services import versions as contribution_versions
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.forms_catalogue import FormTemplate, TemplateNotFound, catalogue
from portal.lifecycle import RequestStatus
from portal.models import AuditEvent, DelegationRequest, Review, Role, Team, User
from portal.requests import services
from portal.requests.access import partners_request
from portal.requests.forms import RouteForm
from portal.uk_time import uk_today

blueprint = Blueprint("inbox", __name__, url_prefix="/inbox")
PARTNERS = roles(Role.PARTNER_CONTRIBUTOR, Role.PARTNER_LEAD)


@blueprint.get("")
@access(PARTNERS)
def index() -> ResponseReturnValue:
    number = request.args.get("page", 1, type=int)
    found = services.inbox(db.session(), current_user, number) if number >= 1 else None
    if found is None:
        abort(404)
    return render_template(
        "inbox/index.html", inbox=found, pagination=_pagination(found), today=uk_today()
    )


def _pagination(page: services.InboxPage) -> dict[str, Any]:
    """govukPagination's parameters: the first and last pages, this one and its neighbours,
    and an ellipsis for each gap (GOV.UK's pattern for long lists)."""

    def link(number: int) -> dict[str, Any]:
        return {"number": number, "href": url_for("inbox.index", page=number)}

    around = range(max(1, page.number - 1), min(page.pages, page.number + 1) + 1)
    items: list[dict[str, Any]] = []
    for number in sorted({1, *around, page.pages}):
        if items and number > items[-1]["number"] + 1:
            items.append({"ellipsis": True, "number": number - 1})
        items.append(link(number) | {"current": number == page.number})
    return {
        "items": items,
        "previous": link(page.number - 1) if page.number > 1 else None,
        "next": link(page.number + 1) if page.number < page.pages else None,
    }


@blueprint.get("/<reference>")
@access(PARTNERS)
def show(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    return _show(found, _route_form(found), 200)


def _route_form(found: DelegationRequest) -> RouteForm:
    form = RouteForm()
    people = services.partner_people(db.session(), [found.partner_organisation_id])
    form.colleague.choices = [SelectChoice("", "Choose a colleague")] + [
        SelectChoice(str(person.id), person.display_name) for person in people
    ]
    return form


def _show(found: DelegationRequest, route_form: RouteForm, status: int) -> ResponseReturnValue:
    session = db.session()
    cipher = RecordCipher(keyring(), session)
    worker = session.get(User, found.requested_by_id)
    team = session.get(Team, found.case.team_id)
    named = session.get(User, found.named_recipient_id) if found.named_recipient_id else None
    page = render_template(
        "inbox/show.html",
        request_=found,
        purpose=cipher.open_text(found, "purpose_enc"),
        message=cipher.open_text(found, "message_enc"),
        children=[
            (cipher.open_text(child, "name_enc"), cipher.open_text(child, "date_of_birth_enc"))
            for child in services.children_of(found)
        ],
        worker=worker,
        team=team,
        named=named,
        template=_template(found),
        route_form=route_form if current_user.has_role(Role.PARTNER_LEAD) else None,
        form=route_form,  # the layout's error summary lists its errors
        routed=request.args.get("routed") == "1",
        saved=request.args.get("saved") == "1",
        versions=contribution_versions(session, found),
        first_viewed=_first_viewed(session, found),
        today=uk_today(),
        returned=_what_is_needed(session, cipher, found),
    )
    # Recorded once the page is made, in the same transaction: appending holds the audit
    # chain's lock until the commit, and every audited page in every process waits for it.
    # Nothing is sent before the commit, so the view is still on the record before it is seen.
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
    return page, status


def _what_is_needed(
    session: Session, cipher: RecordCipher, found: DelegationRequest
) -> tuple[str | None, list[str]] | None:
    """After a return: the council's reason and the titles of the parts to look at again."""
    if found.status != RequestStatus.RETURNED:
        return None
    latest = contribution_versions(session, found)[-1]
    review = session.scalar(sa.select(Review).where(Review.contribution_id == latest.id))
    if review is None:
        return None
    template = _template(found)
    titles = {part.id: part.title for part in template.sections} if template else {}
    parts = [titles.get(section, section) for section in review.sections_to_revisit]
    return cipher.open_text(review, "reason_enc"), parts


def _first_viewed(session: Session, found: DelegationRequest) -> dict[str, datetime]:
    """When the council first read each version: for the partner's timeline."""
    ids = [str(c.id) for c in contribution_versions(session, found)]
    rows = session.execute(
        sa.select(AuditEvent.object_id, sa.func.min(AuditEvent.occurred_at))
        .where(
            AuditEvent.action == AuditAction.CONTRIBUTION_VIEWED.value,
            AuditEvent.object_id.in_(ids),
        )
        .group_by(AuditEvent.object_id)
    ).all()
    return {str(object_id): moment for object_id, moment in rows}


def _template(found: DelegationRequest) -> FormTemplate | None:
    try:
        return catalogue().get(found.form_template, found.form_template_version)
    except TemplateNotFound:
        return None


@blueprint.post("/<reference>/route")
@access(roles(Role.PARTNER_LEAD))
def route(reference: str) -> ResponseReturnValue:
    found = partners_request(reference)
    form = _route_form(found)
    if form.validate_on_submit():
        colleague = db.session().get(User, uuid.UUID(form.colleague.data or ""))
        if colleague is not None:
            try:
                services.route(db.session(), found, actor_for(current_user), colleague)
                return redirect(url_for("inbox.show", reference=found.reference, routed=1))
            except services.RequestRefused as refused:
                form.colleague.errors = [refused.message]
        else:
            form.colleague.errors = ["Select someone in your organisation"]
    return _show(found, form, 400)
