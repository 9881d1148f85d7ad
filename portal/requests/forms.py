"""The forms social workers and partner leads fill in about requests."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovTextArea,
    GovTextInput,
)
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from portal.cases.directory import CMS_REFERENCE_PATTERN
from portal.form_fields import DayField, within_planning_horizon

PURPOSE_LIMIT = 2000
MESSAGE_LIMIT = 2000
REASON_LIMIT = 1000


class CaseLookupForm(FlaskForm):
    reference = StringField(
        "Case reference",
        description="The child’s case reference in the case management system, like NCC-100234.",
        widget=GovTextInput(),
        validators=[
            DataRequired(message="Enter the case reference"),
            Regexp(CMS_REFERENCE_PATTERN, message="Enter a case reference like NCC-100234"),
        ],
    )


def _required_day(form: Any, field: DayField) -> None:
    if field.data is None and not field.errors:
        raise ValidationError(f"Enter the {field.label.text.lower()}")


class RequestForm(FlaskForm):
    children = SelectMultipleField(
        "Which children is the request about?",
        description="The partner answers for each child you select.",
        widget=GovCheckboxesInput(),
        validators=[DataRequired(message="Select the children the request is about")],
    )
    partner = SelectField(
        "Organisation",
        description="Only organisations with an information-sharing agreement in force are listed.",
        widget=GovSelect(),
        validators=[DataRequired(message="Select the organisation to ask")],
    )
    named_recipient = SelectField(
        "Person to send it to (optional)",
        description="Leave as ‘Anyone at the organisation’ unless you know who should answer.",
        widget=GovSelect(),
    )
    form_template = SelectField(
        "Questions to ask",
        widget=GovSelect(),
        validators=[DataRequired(message="Select the questions to ask")],
    )
    lawful_basis = RadioField(
        "Lawful basis for sharing",
        widget=GovRadioInput(),
        validators=[DataRequired(message="Select the lawful basis for sharing")],
    )
    purpose = TextAreaField(
        "Why you need this information",
        description="The partner sees this. Say what decision or assessment it is for.",
        widget=GovTextArea(),
        validators=[
            DataRequired(message="Enter why you need this information"),
            Length(
                max=PURPOSE_LIMIT,
                message=f"Purpose must be {PURPOSE_LIMIT:,} characters or fewer",
            ),
        ],
    )
    message = TextAreaField(
        "Message to the partner (optional)",
        widget=GovTextArea(),
        validators=[
            Length(
                max=MESSAGE_LIMIT,
                message=f"Message must be {MESSAGE_LIMIT:,} characters or fewer",
            )
        ],
    )
    due_on = DayField(
        "Due date",
        description="For example, 27 3 2027.",
        validators=[_required_day, within_planning_horizon],
    )
    expires_on = DayField(
        "Closing date",
        description="After this day the partner can no longer see or answer the request.",
        validators=[_required_day, within_planning_horizon],
    )

    def set_choices(
        self,
        children: list[tuple[str, str]],
        partners: list[tuple[str, str]],
        people: list[tuple[str, str]],
        templates: list[tuple[str, str]],
        lawful_bases: list[tuple[str, str]],
    ) -> None:
        self.children.choices = [SelectChoice(value, label) for value, label in children]
        self.partner.choices = [SelectChoice("", "Choose an organisation")] + [
            SelectChoice(value, label) for value, label in partners
        ]
        self.named_recipient.choices = [SelectChoice("", "Anyone at the organisation")] + [
            SelectChoice(value, label) for value, label in people
        ]
        self.form_template.choices = [SelectChoice("", "Choose the questions")] + [
            SelectChoice(value, label) for value, label in templates
        ]
        self.lawful_basis.choices = [SelectChoice(value, label) for value, label in lawful_bases]


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        "Why are you withdrawing this request?",
        description=(
            "The people at the partner who opened it are e-mailed that it was withdrawn, and "
            "its pages say when and by your team: not why."
        ),
        widget=GovTextArea(),
        validators=[
            DataRequired(message="Enter why you are withdrawing the request"),
            Length(
                max=REASON_LIMIT, message=f"Reason must be {REASON_LIMIT:,} characters or fewer"
            ),
        ],
    )


class ExtendForm(FlaskForm):
    due_on = DayField("New due date", validators=[_required_day, within_planning_horizon])
    expires_on = DayField("New closing date", validators=[_required_day, within_planning_horizon])


class RouteForm(FlaskForm):
    colleague = SelectField(
        "Who should answer it?",
        widget=GovSelect(),
        validators=[DataRequired(message="Select who should answer it")],
    )
