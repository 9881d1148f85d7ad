"""The pilot's forms: a request answered outside the portal, a partner's feedback, and the
figures' filters."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovTextArea
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from portal.pilot.recording import (
    CHANNEL_LABELS,
    COMMENT_LIMIT,
    COMMENT_TOO_LONG,
    OFFLINE_REASONS,
    SATISFACTION_LABELS,
    SELECT_CHANNEL,
    SELECT_RATING,
    SELECT_REASON,
)


class OfflineAnswerForm(FlaskForm):
    channel = RadioField(
        "How did the partner answer?",
        widget=GovRadioInput(),
        choices=[SelectChoice(channel.value, label) for channel, label in CHANNEL_LABELS.items()],
        validators=[DataRequired(message=SELECT_CHANNEL)],
    )
    reason = RadioField(
        "Why was it answered outside the portal?",
        widget=GovRadioInput(),
        choices=[SelectChoice(code, label) for code, label in OFFLINE_REASONS.items()],
        validators=[DataRequired(message=SELECT_REASON)],
    )


class FeedbackForm(FlaskForm):
    rating = RadioField(
        "Overall, how did you feel about the service you received today?",
        widget=GovRadioInput(),
        choices=[
            SelectChoice(str(int(value)), label) for value, label in SATISFACTION_LABELS.items()
        ],
        validators=[DataRequired(message=SELECT_RATING)],
    )
    comment = TextAreaField(
        "How could we improve this service?",
        description="Do not include anything about a child or family, or any personal "
        f"information. {COMMENT_LIMIT:,} characters or fewer.",
        widget=GovTextArea(),
        validators=[
            Optional(),
            Length(max=COMMENT_LIMIT, message=COMMENT_TOO_LONG),
        ],
    )


class FiltersForm(FlaskForm):
    """Read from the query string: the figures are a page anyone may bookmark."""

    class Meta:
        csrf = False

    first = SelectField("From", widget=GovSelect(), validate_choice=False)
    last = SelectField("To", widget=GovSelect(), validate_choice=False)
    kind = SelectField("Kind of organisation", widget=GovSelect(), validate_choice=False)
    organisation = SelectField("Organisation", widget=GovSelect(), validate_choice=False)
