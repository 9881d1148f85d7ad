"""The people pages: who is waiting for approval, who has which roles, and changing that."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal import db
from portal.auth.policy import Role, access, roles
from portal.people import services
from portal.people.forms import ActionForm, RolesForm
from portal.people.policy import Refused, grantable_roles, may_widen
from portal.people.services import OrganisationChange, PersonAction, RoleChange, User

blueprint = Blueprint("people", __name__)

MANAGERS = roles(Role.PARTNER_LEAD, Role.PORTAL_ADMIN)


@blueprint.get("/people")
@access(MANAGERS)
def index() -> ResponseReturnValue:
    people = services.people_in_scope(db.session(), current_user)
    return render_template(
        "people/index.html",
        people=people,
        waiting=services.waiting_for_approval(people),
        everyone=current_user.has_role(Role.PORTAL_ADMIN),
    )


@blueprint.get("/people/<user_id>")
@access(MANAGERS)
def person(user_id: str) -> ResponseReturnValue:
    return _person_page(_person(user_id))


@blueprint.post("/people/<user_id>/approve")
@access(MANAGERS)
def approve(user_id: str) -> ResponseReturnValue:
    return _change_roles(_person(user_id), services.approve, "Approved: they can now sign in.")


@blueprint.post("/people/<user_id>/roles")
@access(MANAGERS)
def change_roles(user_id: str) -> ResponseReturnValue:
    return _change_roles(_person(user_id), services.change_roles, "Roles saved.")


@blueprint.post("/people/<user_id>/suspend")
@access(MANAGERS)
def suspend(user_id: str) -> ResponseReturnValue:
    return _act(_person(user_id), services.suspend, "Suspended and signed out.")


@blueprint.post("/people/<user_id>/reinstate")
@access(MANAGERS)
def reinstate(user_id: str) -> ResponseReturnValue:
    return _act(_person(user_id), services.reinstate, "Reinstated: they can sign in again.")


def _person(user_id: str) -> User:
    """The person named in the URL, or 404 if they are not there or not the actor's to manage.

    (A plain string in the route, not a uuid converter: a malformed id is just another person
    who is not found, past the access guard like any other.)
    """
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        abort(404)
    found = services.person_in_scope(db.session(), current_user, key)
    if found is None:
        abort(404)
    return found


def _change_roles(
    person: User,
    change: RoleChange,
    done: str,
) -> ResponseReturnValue:
    form = _roles_form(person, posted=True)
    if form.validate_on_submit():
        chosen = form.chosen()
        try:
            if chosen is None:
                raise Refused("Select roles from the list")
            result = change(db.session(), current_user, person, chosen)
        except Refused as refusal:
            form.roles.errors = [str(refusal)]
        else:
            if isinstance(result, OrganisationChange):
                done = (
                    f"{person.display_name} was proposed as partner lead: it takes effect when "
                    "another partner lead or an IG officer approves it."
                )
            flash(done, "success")
            return redirect(url_for("people.person", user_id=person.id))
    return _person_page(person, roles_form=form)


def _act(person: User, action: PersonAction, done: str) -> ResponseReturnValue:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        action(db.session(), current_user, person)
    except Refused as refusal:
        return _person_page(person, action_error=str(refusal))
    flash(done, "success")
    return redirect(url_for("people.person", user_id=person.id))


def _roles_form(person: User, *, posted: bool = False) -> RolesForm:
    if posted:
        form = RolesForm()
    else:
        form = RolesForm(formdata=None, data={"roles": [role.value for role in person.roles]})
    form.offer(grantable_roles(current_user, person))
    return form


def _person_page(
    person: User, *, roles_form: RolesForm | None = None, action_error: str | None = None
) -> ResponseReturnValue:
    roles_form = roles_form or _roles_form(person)
    failed = bool(roles_form.errors) or action_error is not None
    return render_template(
        "people/person.html",
        person=person,
        form=roles_form if roles_form.errors else None,  # base.html's error summary
        roles_form=roles_form,
        role_items=_role_items(roles_form, person),
        action_error=action_error,
        is_self=person.id == current_user.id,
        may_widen=may_widen(current_user, person),
        assignments=sorted(person.role_assignments, key=lambda a: a.role.label),
    ), (400 if failed else 200)


def _role_items(form: RolesForm, person: User) -> list[dict[str, Any]]:
    """Per checkbox: roles from the identity provider are shown, ticked, but not changeable."""
    from_provider = services.provider_roles(person)
    return [
        {
            "checked": True,
            "disabled": True,
            "hint": {"text": "From the organisation’s identity provider: change it there"},
        }
        if Role(choice.value) in from_provider
        else {}
        for choice in form.roles.choices or []
    ]
