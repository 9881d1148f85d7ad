"""The portal administrator's pages: identity providers and organisations."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.admin import services
from portal.admin.forms import (
    ProviderForm,
    SelfProvisioningForm,
    form_data,
    new_form_data,
)
from portal.admin.services import IdentityProvider
from portal.auth.oidc.provider_spec import spec_of
from portal.auth.policy import Role, access, roles
from portal.onboarding.access import describe

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

ADMINS = roles(Role.PORTAL_ADMIN)


@blueprint.get("/identity-providers")
@access(ADMINS)
def identity_providers() -> ResponseReturnValue:
    found = services.providers(db.session())
    return render_template(
        "admin/identity_providers.html",
        providers=found,
        rules={provider.id: services.rules_summary(provider) for provider in found},
        addresses=services.registration_addresses(current_app),
        waiting=services.waiting_provider_changes(db.session()),
        describe=describe,
    )


@blueprint.route("/identity-providers/new", methods=["GET", "POST"])
@access(ADMINS)
def new_identity_provider() -> ResponseReturnValue:
    form = ProviderForm(data=new_form_data())
    _offer_organisations(form)
    if form.validate_on_submit() and _save(form, form.slug.data.strip()):
        return redirect(url_for("admin.identity_providers"))
    return _provider_page(form, None)


@blueprint.route("/identity-providers/<slug>", methods=["GET", "POST"])
@access(ADMINS)
def identity_provider(slug: str) -> ResponseReturnValue:
    found = services.provider(db.session(), slug)
    if found is None:
        abort(404)
    form = ProviderForm(data=form_data(spec_of(found)))
    del form["slug"]  # a provider's slug is in its callback address: it never changes
    _offer_organisations(form)
    if form.validate_on_submit():
        if _save(form, slug):
            return redirect(url_for("admin.identity_providers"))
        found = services.provider(db.session(), slug)  # as stored: the change was rolled back
        if found is None:
            abort(404)
    return _provider_page(form, found)


@blueprint.get("/organisations")
@access(ADMINS)
def organisations() -> ResponseReturnValue:
    return _organisations_page()


def _organisations_page(action_error: str | None = None) -> ResponseReturnValue:
    return render_template(
        "admin/organisations.html",
        organisations=services.organisations(db.session()),
        action_error=action_error,
    ), (400 if action_error else 200)


@blueprint.post("/organisations/<organisation_id>/self-provisioning")
@access(ADMINS)
def self_provisioning(organisation_id: str) -> ResponseReturnValue:
    form = SelfProvisioningForm()
    if not form.validate_on_submit():
        abort(400)  # only the page's own buttons post here; anything else is malformed
    try:
        found = services.organisation(db.session(), uuid.UUID(organisation_id))
    except ValueError:
        found = None
    if found is None:
        abort(404)
    enabled = form.self_provisioning.data == "on"
    try:
        result = services.set_self_provisioning(db.session(), found, enabled, actor=current_user)
    except services.ChangeRefused as refusal:
        return _organisations_page(str(refusal))
    if result is not False and enabled:
        flash(_proposed(f"Self-provisioning for {found.name}"), "success")
    elif result is not False:
        flash(f"People at {found.name} now wait for approval.", "success")
    return redirect(url_for("admin.organisations"))


def _save(form: ProviderForm, slug: str) -> bool:
    """Save or propose what the form says, with a banner saying which; False, with the
    problems on the form, if it cannot be."""
    result = services.save_or_propose(
        db.session(),
        db.cipher(),
        form.spec_data(slug),
        client_secret=form.client_secret_given(),
        proposer=current_user,
    )
    if isinstance(result, list):
        for problem in result:
            form.add_error(problem.field, problem.message)
        return False
    if isinstance(result, IdentityProvider):
        flash(f"{result.display_name} was changed.", "success")
    else:
        name = form.display_name.data.strip()
        what = f"The change to {name}" if form.slug is None else f"{name}, a new identity provider,"
        flash(_proposed(what), "success")
    return True


def _proposed(what: str) -> str:
    return (
        f"{what} was proposed: it takes effect when the organisation’s partner lead or an "
        "IG officer approves it."
    )


def _offer_organisations(form: ProviderForm) -> None:
    names = [organisation.name for organisation in services.organisations(db.session())]
    form.organisation.choices = [
        SelectChoice("", "Select an organisation"),
        *(SelectChoice(name) for name in names),
    ]


def _provider_page(form: ProviderForm, provider: IdentityProvider | None) -> ResponseReturnValue:
    return render_template(
        "admin/identity_provider.html",
        form=form,
        provider=provider,
        key_id=services.provider_key_id(provider),
        addresses=services.registration_addresses(
            current_app, provider.slug if provider else "<slug>"
        ),
    ), (400 if form.errors else 200)
