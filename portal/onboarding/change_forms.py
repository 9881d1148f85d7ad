"""The forms on an organisation's access page and on a change waiting for approval. Each
carries a CSRF token; who may use them is the policy's and the change services' to decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovTextArea
from wtforms import HiddenField, RadioField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length, ValidationError

from portal.domain_names import cleaned, is_domain_name
from portal.onboarding.decisions import REASON_LIMIT


class DomainsForm(FlaskForm):
    domains = TextAreaField(
        "Email domains",
        description="One a line, like ashbylane.sch.uk. Its people’s addresses are at these "
        "domains. Removing one takes effect at once; adding one needs a second person’s "
        "approval.",
        widget=GovTextArea(),
        validators=[Length(max=2000, message="Email domains must be 2,000 characters or fewer")],
    )

    def validate_domains(self, field: TextAreaField) -> None:
        for domain in self.chosen():
            if not is_domain_name(domain):
                raise ValidationError(f"{domain} is not a domain name, like ashbylane.sch.uk")

    def chosen(self) -> list[str]:
        lines = (self.domains.data or "").splitlines()
        return sorted({cleaned(line) for line in lines if line.strip()})


class SelfProvisioningForm(FlaskForm):
    self_provisioning = HiddenField(
        validators=[AnyOf(["on", "off"], message="Choose whether to turn it on or off")]
    )


class PartnerLeadForm(FlaskForm):
    person = RadioField(
        "Who should be its partner lead?",
        description="Someone at the organisation who has signed in to the portal. They become "
        "partner lead when another partner lead or an IG officer approves it.",
        widget=GovRadioInput(),
        validators=[DataRequired(message="Select who should be its partner lead")],
    )


class RefuseForm(FlaskForm):
    reason = TextAreaField(
        "Why are you refusing it?",
        description="About the organisation’s set-up only: do not include anything about a "
        "child or family. The person who proposed it will see this.",
        widget=GovTextArea(),
        validators=[
            DataRequired(message="Enter why you are refusing this change"),
            Length(
                max=REASON_LIMIT,
                message=f"Why you are refusing it must be {REASON_LIMIT} characters or fewer",
            ),
        ],
    )


class ActionForm(FlaskForm):
    """Approve and withdraw: a button and its CSRF token."""
