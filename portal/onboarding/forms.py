"""The partner engagement officer's forms: adding an organisation, its agreement, its DPIA
reference, its MFA decision and moving it through the pilot's stages."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovTextArea, GovTextInput
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional, ValidationError

from portal.form_fields import DayField
from portal.models import OrganisationKind
from portal.onboarding.organisations import parse_domains
from portal.onboarding.stages import Move, PauseReason

KIND_LABELS = {
    OrganisationKind.SCHOOL: "School",
    OrganisationKind.POLICE: "Police",
    OrganisationKind.HEALTH: "Health",
    OrganisationKind.OTHER: "Other partner agency",
}
REASON_LIMIT = 500


def _text(label: str, missing: str, limit: int, description: str = "") -> StringField:
    return StringField(
        label,
        description=description,
        widget=GovTextInput(),
        validators=[
            DataRequired(message=missing),
            Length(max=limit, message=f"{label} must be {limit} characters or fewer"),
        ],
    )


def _required_day(form: Any, field: DayField) -> None:
    if field.data is None and not field.errors:
        raise ValidationError(f"Enter the {field.label.text.lower()}")


class OrganisationForm(FlaskForm):
    name = _text(
        "Name",
        "Enter the organisation’s name",
        200,
        "As people there call it, like Ashby Lane Primary School.",
    )
    kind = RadioField(
        "What kind of organisation is it?",
        widget=GovRadioInput(),
        choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()],
        validators=[DataRequired(message="Select what kind of organisation it is")],
    )
    email_domains = TextAreaField(
        "E-mail domains",
        description="The domains its people’s work addresses are at, one a line, like "
        "ashbylane.sch.uk.",
        widget=GovTextArea(),
        validators=[DataRequired(message="Enter at least one e-mail domain")],
    )

    def validate_email_domains(self, field: TextAreaField) -> None:
        try:
            domains = parse_domains(field.data or "")
        except ValueError as error:
            raise ValidationError(str(error)) from None
        if not domains:
            raise ValidationError("Enter at least one e-mail domain")
        if len(domains) > 20:
            raise ValidationError("Enter 20 domains or fewer")

    def domains(self) -> list[str]:
        return parse_domains(self.email_domains.data or "")


class AgreementForm(FlaskForm):
    name = _text("Agreement name", "Enter the agreement’s name", 200)
    version = _text("Version", "Enter the agreement’s version", 40)
    signed_on = DayField(
        "Date signed", description="For example, 27 3 2026.", validators=[_required_day]
    )
    signatory_roles = _text(
        "Signatories’ roles",
        "Enter the signatories’ roles",
        500,
        "Their roles, not their names, like Headteacher; Director of Children’s Services.",
    )
    review_on = DayField(
        "Review date",
        description="New requests stop going to the organisation after this day until a "
        "reviewed agreement is recorded.",
        validators=[_required_day],
    )


class DpiaForm(FlaskForm):
    reference = _text(
        "DPIA reference",
        "Enter the DPIA’s reference",
        100,
        "The data protection impact assessment’s reference in the council’s register.",
    )


class MfaForm(FlaskForm):
    decision = RadioField(
        "Must its people sign in with a second factor (MFA)?",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("required", "Yes, MFA is required"),
            SelectChoice("not_required", "No, MFA is not required"),
        ],
        validators=[DataRequired(message="Select whether MFA is required")],
    )
    reason = TextAreaField(
        "Why is MFA not required?",
        description="About the organisation’s set-up. Do not include anything about a child "
        "or family.",
        widget=GovTextArea(),
        validators=[
            Length(max=REASON_LIMIT, message=f"Reason must be {REASON_LIMIT} characters or fewer"),
        ],
    )

    def validate_reason(self, field: TextAreaField) -> None:
        if self.decision.data == "not_required" and not (field.data or "").strip():
            raise ValidationError("Enter why MFA is not required")


class MoveForm(FlaskForm):
    move = HiddenField(validators=[AnyOf([move.value for move in Move])])
    pause_reason = RadioField(
        "Why is it being paused?",
        widget=GovRadioInput(),
        choices=[SelectChoice(reason.value, reason.label) for reason in PauseReason],
        validators=[Optional()],
    )

    def chosen(self) -> Move:
        return Move(self.move.data)

    def reason(self) -> PauseReason | None:
        return PauseReason(self.pause_reason.data) if self.pause_reason.data else None
