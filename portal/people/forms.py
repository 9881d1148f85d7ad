"""The forms on a person's page. Each carries a CSRF token; roles are checked by the policy."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxesInput
from wtforms import SelectMultipleField
from wtforms.fields.choices import SelectChoice

from portal.models import Role


class RolesForm(FlaskForm):
    roles = SelectMultipleField(
        "Roles",
        description="What they may do in the portal. A role from their organisation’s identity "
        "provider is renewed at each sign-in, so it can only be changed there.",
        # Any role may be posted; the policy refuses what this person may not give, and says so.
        validate_choice=False,
        widget=GovCheckboxesInput(),
    )

    def offer(self, roles: frozenset[Role]) -> None:
        self.roles.choices = [
            SelectChoice(role.value, role.label) for role in Role if role in roles
        ]

    def chosen(self) -> frozenset[Role] | None:
        """The roles ticked, or None if something that is not a role was posted."""
        try:
            return frozenset(Role(value) for value in self.roles.data or [])
        except ValueError:
            return None


class ActionForm(FlaskForm):
    """Suspend and reinstate: a button and its CSRF token."""
