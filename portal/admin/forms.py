"""The identity provider form, and its translation to and from a `ProviderSpec`.

The form checks only that something was entered and that its lines are well formed; what makes
a provider acceptable (https issuers, asymmetric algorithms, domains…) is the registry's to
decide, so the pages, the command line and configuration files all refuse the same things.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovPasswordInput,
    GovRadioInput,
    GovSelect,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    Field,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from portal.auth.oidc.provider_spec import ALLOWED_SIGNING_ALGORITHMS, ProviderSpec
from portal.models import ClientAuthMethod, Role
from portal.onboarding.change_forms import SelfProvisioningForm as SelfProvisioningForm

CLIENT_AUTH_LABELS = {
    ClientAuthMethod.CLIENT_SECRET_BASIC: "Client secret, sent in the Authorization header",
    ClientAuthMethod.CLIENT_SECRET_POST: "Client secret, sent in the request body",
    ClientAuthMethod.PRIVATE_KEY_JWT: "The portal’s own key pair (private_key_jwt)",
}
_LIST_FIELDS = (
    "allowed_email_domains",
    "allowed_tenants",
    "allowed_hosted_domains",
    "required_acr_values",
)
_CLAIMS = ("email", "name", "groups")


def _text(label: str, message: str, description: str = "", max_length: int = 500) -> StringField:
    return StringField(
        label,
        description=description,
        widget=GovTextInput(),
        validators=[
            DataRequired(message=message),
            Length(max=max_length, message=f"{label} must be {max_length} characters or fewer"),
        ],
    )


def _lines(label: str, description: str) -> TextAreaField:
    return TextAreaField(label, description=description, widget=GovTextArea())


class ProviderForm(FlaskForm):
    organisation = SelectField(
        "Organisation",
        description="The organisation whose people this provider signs in. It cannot change later.",
        widget=GovSelect(),
        validators=[DataRequired(message="Select the organisation")],
    )
    slug = _text(
        "Slug",
        "Enter a slug",
        "Names the provider in the portal’s addresses, like ashby-lane. Lower-case letters, "
        "digits and hyphens. It cannot change later.",
        60,
    )
    display_name = _text(
        "Display name", "Enter a display name", "Shown to people choosing where to sign in.", 200
    )
    issuer = _text(
        "Issuer",
        "Enter the issuer",
        "Exactly as the provider states it in its discovery document, like "
        "https://login.microsoftonline.com/<tenant id>/v2.0",
    )
    client_id = _text(
        "Client ID", "Enter the client ID", "The portal’s client ID at the provider.", 255
    )
    client_auth_method = RadioField(
        "How the portal proves it is the client",
        description="As agreed with the provider. NHS CIS2 uses the portal’s own key pair.",
        choices=[SelectChoice(method.value, label) for method, label in CLIENT_AUTH_LABELS.items()],
        default=ClientAuthMethod.CLIENT_SECRET_BASIC.value,
        widget=GovRadioInput(),
        validators=[DataRequired(message="Select how the portal proves it is the client")],
    )
    client_secret = PasswordField(
        "Client secret",
        description="For the client secret methods only. It is stored encrypted and never shown "
        "again.",
        widget=GovPasswordInput(),
        validators=[Length(max=1000, message="Client secret must be 1,000 characters or fewer")],
    )
    scopes = _text("Scopes", "Enter the scopes", "Separated by spaces; must include openid.")
    signing_algorithms = SelectMultipleField(
        "ID token signing algorithms",
        description="Only tokens signed with these are accepted.",
        choices=[SelectChoice(algorithm) for algorithm in ALLOWED_SIGNING_ALGORITHMS],
        default=["RS256"],
        # The registry refuses anything else, and says why (HS256 and `none` are forgeable).
        validate_choice=False,
        widget=GovCheckboxesInput(),
        validators=[DataRequired(message="Select at least one signing algorithm")],
    )
    allowed_email_domains = _lines(
        "Allowed email domains",
        "One a line, like ashbylane.sch.uk. People at these domains may get an account at "
        "first sign-in when the organisation allows it; anyone else waits for approval.",
    )
    allowed_tenants = _lines(
        "Allowed Microsoft Entra tenant IDs", "One a line. Leave empty for other providers."
    )
    allowed_hosted_domains = _lines(
        "Allowed Google Workspace domains", "One a line. Leave empty for other providers."
    )
    required_acr_values = _lines(
        "Required authentication levels (acr)",
        "One a line, like AAL3 for NHS CIS2. A sign-in at any other level is refused.",
    )
    require_strong_amr = BooleanField(
        "Require multi-factor authentication (amr)",
        description="Refuse a sign-in unless the provider says more than a password was used.",
        widget=GovCheckboxInput(),
    )
    group_roles = _lines(
        "Roles from groups",
        "One a line, as group = role, like safeguarding-leads = partner_lead. Roles: "
        + ", ".join(role.value for role in Role)
        + ". Leave empty to give roles in the portal instead.",
    )
    claim_email = _text("Email claim", "Enter the email claim", max_length=100)
    claim_name = _text("Name claim", "Enter the name claim", max_length=100)
    claim_groups = _text("Groups claim", "Enter the groups claim", max_length=100)
    enabled = BooleanField(
        "People can sign in with this provider",
        description="Switching it off also ends the sessions it started.",
        widget=GovCheckboxInput(),
        default=True,
    )

    def validate_group_roles(self, field: Field) -> None:
        for line in _split_lines(field.data):
            group, equals, role = line.partition("=")
            if not equals or not group.strip() or not role.strip():
                raise ValidationError(
                    "Write each group on its own line as group = role, like "
                    "safeguarding-leads = partner_lead"
                )

    def spec_data(self, slug: str) -> dict[str, Any]:
        """What the form says, in ProviderSpec's terms (ProviderSpec validates it)."""
        data: dict[str, Any] = {
            "organisation": self.organisation.data,
            "slug": slug,
            "display_name": self.display_name.data.strip(),
            "issuer": self.issuer.data.strip(),
            "client_id": self.client_id.data.strip(),
            "client_auth_method": self.client_auth_method.data,
            "scopes": self.scopes.data,
            "signing_algorithms": list(self.signing_algorithms.data or []),
            "claim_mapping": {
                claim: getattr(self, f"claim_{claim}").data.strip() for claim in _CLAIMS
            },
            "group_roles": dict(_mapping(line) for line in _split_lines(self.group_roles.data)),
            "require_strong_amr": bool(self.require_strong_amr.data),
            "enabled": bool(self.enabled.data),
        }
        for name in _LIST_FIELDS:
            data[name] = _split_lines(getattr(self, name).data)
        return data

    def client_secret_given(self) -> str | None:
        """The secret typed in, or None when the box was left empty (keep the stored one)."""
        secret = self.client_secret.data or ""
        return secret.strip() or None

    def add_error(self, field_name: str, message: str) -> None:
        field = self._fields.get(_FORM_FIELD.get(field_name, field_name))
        if field is None:
            # A problem with no field of its own (the slug when it is fixed): the first field.
            field = next(iter(f for f in self if f.name != "csrf_token"))
        field.errors = [*field.errors, message]


# ProviderSpec fields that the form spreads over several inputs.
_FORM_FIELD = {"claim_mapping": "claim_email"}


def form_data(spec: ProviderSpec) -> dict[str, Any]:
    """A stored provider's description as the form's initial data."""
    data = spec.model_dump(exclude={"claim_mapping", "group_roles", *_LIST_FIELDS})
    data["client_auth_method"] = spec.client_auth_method.value
    for name in _LIST_FIELDS:
        data[name] = "\n".join(getattr(spec, name))
    data["group_roles"] = "\n".join(
        f"{group} = {role.value}" for group, role in spec.group_roles.items()
    )
    for claim in _CLAIMS:
        data[f"claim_{claim}"] = spec.claim_mapping.get(claim, claim)
    return data


def new_form_data() -> dict[str, Any]:
    return {f"claim_{claim}": claim for claim in _CLAIMS} | {"scopes": "openid email profile"}


def _split_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _mapping(line: str) -> tuple[str, str]:
    group, _, role = line.partition("=")
    return group.strip(), role.strip()
