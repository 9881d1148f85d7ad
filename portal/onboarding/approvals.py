"""Who can act for an organisation (`/organisations/<id>/access`), proposing changes that widen
it, and deciding them (`/approvals`): the second person's pages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.admin.services import rules_summary
from portal.auth.policy import Role, access, roles
from portal.onboarding import access as who
from portal.onboarding import changes, decisions
from portal.onboarding.access import ChangeStatus, Organisation, OrganisationChange
from portal.onboarding.change_forms import (
    ActionForm,
    DomainsForm,
    PartnerLeadForm,
    RefuseForm,
    SelfProvisioningForm,
)
from portal.onboarding.changes import ChangeRefused

blueprint = Blueprint("changes", __name__)

VIEWERS = roles(
    Role.PORTAL_ADMIN, Role.PARTNER_ENGAGEMENT_OFFICER, Role.IG_OFFICER, Role.PARTNER_LEAD
)
PROPOSERS = roles(Role.PORTAL_ADMIN, Role.PARTNER_ENGAGEMENT_OFFICER)
LEAD_PROPOSERS = roles(Role.PORTAL_ADMIN, Role.PARTNER_ENGAGEMENT_OFFICER, Role.PARTNER_LEAD)
DECIDERS = roles(Role.IG_OFFICER, Role.PARTNER_LEAD)
TAKES_EFFECT = "it takes effect when the organisation’s partner lead or an IG officer approves it."


@blueprint.get("/organisations/<organisation_id>/access", endpoint="access")
@access(VIEWERS)
def access_page(organisation_id: str) -> ResponseReturnValue:
    return _access_page(_organisation(organisation_id))


@blueprint.post("/organisations/<organisation_id>/access/domains")
@access(PROPOSERS)
def domains(organisation_id: str) -> ResponseReturnValue:
    organisation = _organisation(organisation_id)
    form = DomainsForm()
    if not form.validate_on_submit():
        return _access_page(organisation, domains_form=form)
    try:
        result = changes.set_domains(db.session(), organisation, form.chosen(), actor=current_user)
    except ChangeRefused as refusal:
        return _access_page(organisation, action_error=str(refusal))
    if isinstance(result, OrganisationChange):
        flash(f"The new email domains were proposed: {TAKES_EFFECT}", "success")
    elif result:
        flash("Email domains saved.", "success")
    return _back_to(organisation)


@blueprint.post("/organisations/<organisation_id>/access/self-provisioning")
@access(PROPOSERS)
def self_provisioning(organisation_id: str) -> ResponseReturnValue:
    organisation = _organisation(organisation_id)
    form = SelfProvisioningForm()
    if not form.validate_on_submit():
        abort(400)  # only the page's own buttons post here; anything else is malformed
    enabled = form.self_provisioning.data == "on"
    try:
        result = changes.set_self_provisioning(
            db.session(), organisation, enabled, actor=current_user
        )
    except ChangeRefused as refusal:
        return _access_page(organisation, action_error=str(refusal))
    if isinstance(result, OrganisationChange):
        flash(f"Self-provisioning was proposed: {TAKES_EFFECT}", "success")
    elif result:
        flash(f"Self-provisioning is off: newcomers at {organisation.name} wait for approval.")
    return _back_to(organisation)


@blueprint.post("/organisations/<organisation_id>/access/partner-lead")
@access(LEAD_PROPOSERS)
def partner_lead(organisation_id: str) -> ResponseReturnValue:
    organisation = _organisation(organisation_id)
    candidates = who.access(db.session(), organisation).candidates
    form = _lead_form(candidates)
    if form.validate_on_submit():
        [person] = [p for p in candidates if str(p.id) == form.person.data]
        try:
            changes.propose_partner_lead(db.session(), person, proposer=current_user)
        except ChangeRefused as refusal:
            form.person.errors = [str(refusal)]
        else:
            flash(f"{person.display_name} was proposed as partner lead: {TAKES_EFFECT}", "success")
            return _back_to(organisation)
    return _access_page(organisation, lead_form=form)


@blueprint.post("/organisations/<organisation_id>/access/changes/<change_id>/withdraw")
@access(LEAD_PROPOSERS)
def withdraw(organisation_id: str, change_id: str) -> ResponseReturnValue:
    organisation = _organisation(organisation_id)
    change = changes.find(db.session(), current_user, change_id)
    if change is None or change.organisation_id != organisation.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        decisions.withdraw(db.session(), change, current_user)
    except ChangeRefused as refusal:
        return _access_page(organisation, action_error=str(refusal))
    flash(f"Withdrawn: {who.describe(change)}.", "success")
    return _back_to(organisation)


@blueprint.get("/approvals")
@access(DECIDERS)
def index() -> ResponseReturnValue:
    waiting = changes.waiting_for(db.session(), current_user)
    return render_template(
        "onboarding/approvals.html",
        waiting=waiting,
        describe=who.describe,
        refusal=lambda change: changes.refusal_to_decide(current_user, change),
    )


@blueprint.get("/approvals/<change_id>")
@access(DECIDERS)
def approval(change_id: str) -> ResponseReturnValue:
    return _approval_page(_change(change_id))


@blueprint.post("/approvals/<change_id>/approve")
@access(DECIDERS)
def approve(change_id: str) -> ResponseReturnValue:
    change = _change(change_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        status = decisions.approve(db.session(), db.cipher(), change, current_user)
    except ChangeRefused as refusal:
        return _approval_page(change, action_error=str(refusal))
    if status == ChangeStatus.SUPERSEDED:
        flash(
            "Not applied: what it would change has changed since it was proposed, so it was "
            "superseded. It must be proposed again.",
            "important",
        )
    else:
        flash(f"Approved: {who.describe(change)} has taken effect.", "success")
    return redirect(url_for("changes.approval", change_id=change.id))


@blueprint.post("/approvals/<change_id>/refuse")
@access(DECIDERS)
def refuse(change_id: str) -> ResponseReturnValue:
    change = _change(change_id)
    form = RefuseForm()
    if form.validate_on_submit():
        try:
            decisions.refuse(db.session(), change, current_user, form.reason.data)
        except ChangeRefused as refusal:
            form.reason.errors = [str(refusal)]
        else:
            flash(f"Refused: {who.describe(change)}.", "success")
            return redirect(url_for("changes.approval", change_id=change.id))
    return _approval_page(change, refuse_form=form)


def _organisation(organisation_id: str) -> Organisation:
    found = who.organisation(db.session(), current_user, organisation_id)
    if found is None:
        abort(404)
    return found


def _change(change_id: str) -> OrganisationChange:
    found = changes.find(db.session(), current_user, change_id)
    if found is None:
        abort(404)
    return found


def _back_to(organisation: Organisation) -> ResponseReturnValue:
    return redirect(url_for("changes.access", organisation_id=organisation.id))


def _lead_form(candidates: list[who.User]) -> PartnerLeadForm:
    form = PartnerLeadForm()
    form.person.choices = [
        SelectChoice(str(person.id), f"{person.display_name} ({person.email or 'no address'})")
        for person in candidates
        if person.id != current_user.id
    ]
    return form


def _access_page(
    organisation: Organisation,
    *,
    domains_form: DomainsForm | None = None,
    lead_form: PartnerLeadForm | None = None,
    action_error: str | None = None,
) -> ResponseReturnValue:
    found = who.access(db.session(), organisation)
    domains_form = domains_form or DomainsForm(
        formdata=None, data={"domains": "\n".join(organisation.email_domains)}
    )
    lead_form = lead_form or _lead_form(found.candidates)
    failed = next((f for f in (domains_form, lead_form) if f.errors), None)
    return render_template(
        "onboarding/access.html",
        found=found,
        form=failed,  # base.html's error summary
        domains_form=domains_form,
        lead_form=lead_form,
        action_error=action_error,
        may_propose=current_user.has_role(*PROPOSERS.roles),
        may_propose_lead=current_user.has_role(*LEAD_PROPOSERS.roles),
        describe=who.describe,
        difference=who.difference,
        kinds=who.KIND_LABELS,
        rules=rules_summary,
    ), (400 if failed or action_error else 200)


def _approval_page(
    change: OrganisationChange,
    *,
    refuse_form: RefuseForm | None = None,
    action_error: str | None = None,
) -> ResponseReturnValue:
    refuse_form = refuse_form or RefuseForm(formdata=None)
    return render_template(
        "onboarding/approval.html",
        change=change,
        form=refuse_form if refuse_form.errors else None,
        refuse_form=refuse_form,
        action_error=action_error,
        refusal=changes.refusal_to_decide(current_user, change),
        describe=who.describe,
        rows=who.difference(change),
        kinds=who.KIND_LABELS,
    ), (400 if refuse_form.errors or action_error else 200)
