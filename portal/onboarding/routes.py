"""The partner engagement officer's pages: the organisations in the pilot, adding one, and
taking it through its checklist and stages. Portal admins and IG officers may read them."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.onboarding import organisations
from portal.onboarding.agreements import AgreementTerms, problems, record_agreement
from portal.onboarding.forms import (
    KIND_LABELS,
    AgreementForm,
    DpiaForm,
    MfaForm,
    MoveForm,
    OrganisationForm,
)
from portal.onboarding.organisations import Organisation, OrganisationKind, Refused
from portal.onboarding.stages import Move, StageRefused
from portal.uk_time import uk_today

blueprint = Blueprint("onboarding", __name__)

READERS = roles(Role.PARTNER_ENGAGEMENT_OFFICER, Role.PORTAL_ADMIN, Role.IG_OFFICER)
OFFICERS = roles(Role.PARTNER_ENGAGEMENT_OFFICER)


@blueprint.get("/organisations")
@access(READERS)
def index() -> ResponseReturnValue:
    return render_template(
        "onboarding/index.html",
        summaries=organisations.summaries(db.session(), uk_today(), _warning_days()),
        kinds=KIND_LABELS,
        may_change=_may_change(),
    )


@blueprint.route("/organisations/new", methods=["GET", "POST"])
@access(OFFICERS)
def new() -> ResponseReturnValue:
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            added = organisations.propose(
                db.session(),
                form.name.data or "",
                OrganisationKind(form.kind.data),
                form.domains(),
                actor=actor_for(current_user),
            )
        except Refused as refusal:
            form[refusal.field].errors = [str(refusal)]
        else:
            flash(f"{added.name} was added. It is proposed for the pilot.", "success")
            return redirect(url_for("onboarding.organisation", organisation_id=added.id))
    return render_template("onboarding/new.html", form=form), (400 if form.errors else 200)


@blueprint.get("/organisations/<organisation_id>")
@access(READERS)
def organisation(organisation_id: str) -> ResponseReturnValue:
    return _page(_organisation(organisation_id))


@blueprint.post("/organisations/<organisation_id>/stage")
@access(OFFICERS)
def move(organisation_id: str) -> ResponseReturnValue:
    found = _organisation(organisation_id)
    form = MoveForm()
    if not form.validate_on_submit():
        abort(400)  # only the page's own buttons post here; anything else is malformed
    try:
        ended = organisations.move(
            db.session(),
            found,
            form.chosen(),
            form.reason(),
            uk_today(),
            actor=actor_for(current_user),
        )
    except StageRefused as refusal:
        if form.chosen() == Move.PAUSE and form.reason() is None:
            form.pause_reason.errors = [str(refusal)]  # shown at the question too
        return _page(found, move_error=str(refusal), move_form=form)
    done = f"{found.name} is now {found.stage.value}."
    if ended:
        done += f" {ended} session{'s' if ended != 1 else ''} of its people ended."
    flash(done, "success")
    return redirect(url_for("onboarding.organisation", organisation_id=found.id))


@blueprint.route("/organisations/<organisation_id>/agreement", methods=["GET", "POST"])
@access(OFFICERS)
def agreement(organisation_id: str) -> ResponseReturnValue:
    found = _organisation(organisation_id)
    form = AgreementForm()
    if form.validate_on_submit():
        terms = AgreementTerms(
            name=(form.name.data or "").strip(),
            version=(form.version.data or "").strip(),
            signed_on=form.signed_on.data,  # type: ignore[arg-type]  # required above
            signatory_roles=(form.signatory_roles.data or "").strip(),
            review_on=form.review_on.data,  # type: ignore[arg-type]
        )
        wrong = problems(terms, uk_today())
        for field, message in wrong.items():
            form[field].errors = [message]
        if not wrong:
            record_agreement(
                db.session(),
                found,
                terms,
                recorder=current_user,
                actor=actor_for(current_user),
            )
            flash("The information-sharing agreement was recorded.", "success")
            return redirect(url_for("onboarding.organisation", organisation_id=found.id))
    return _form_page("onboarding/agreement.html", found, form)


@blueprint.route("/organisations/<organisation_id>/dpia", methods=["GET", "POST"])
@access(OFFICERS)
def dpia(organisation_id: str) -> ResponseReturnValue:
    found = _organisation(organisation_id)
    form = DpiaForm()
    if form.validate_on_submit():
        organisations.record_dpia(
            db.session(),
            found,
            form.reference.data or "",
            recorder=current_user,
            actor=actor_for(current_user),
        )
        flash("The DPIA reference was recorded.", "success")
        return redirect(url_for("onboarding.organisation", organisation_id=found.id))
    return _form_page("onboarding/dpia.html", found, form)


@blueprint.route("/organisations/<organisation_id>/mfa", methods=["GET", "POST"])
@access(OFFICERS)
def mfa(organisation_id: str) -> ResponseReturnValue:
    found = _organisation(organisation_id)
    form = MfaForm()
    if form.validate_on_submit():
        organisations.record_mfa_decision(
            db.session(),
            found,
            form.decision.data == "required",
            form.reason.data,
            recorder=current_user,
            actor=actor_for(current_user),
        )
        flash("The MFA decision was recorded.", "success")
        return redirect(url_for("onboarding.organisation", organisation_id=found.id))
    return _form_page("onboarding/mfa.html", found, form)


def _organisation(organisation_id: str) -> Organisation:
    found = organisations.find(db.session(), organisation_id)
    if found is None:
        abort(404)
    return found


def _warning_days() -> tuple[int, ...]:
    return tuple(current_app.config["PORTAL_SETTINGS"].onboarding.agreement_warning_days)


def _may_change() -> bool:
    return bool(current_user.has_role(Role.PARTNER_ENGAGEMENT_OFFICER))


def _form_page(template: str, found: Organisation, form: object) -> ResponseReturnValue:
    failed = bool(getattr(form, "errors", None))
    return render_template(template, organisation=found, form=form), (400 if failed else 200)


def _page(
    found: Organisation, *, move_error: str | None = None, move_form: MoveForm | None = None
) -> ResponseReturnValue:
    return render_template(
        "onboarding/organisation.html",
        overview=organisations.overview(db.session(), found, uk_today(), _warning_days()),
        kinds=KIND_LABELS,
        may_change=_may_change(),
        move_form=move_form or MoveForm(formdata=None),
        move_error=move_error,
        access_url=url_for("changes.access", organisation_id=found.id),
    ), (400 if move_error else 200)
