"""Warnings before an agreement's review date, and the e-mails about an organisation: queued
by `portal onboarding remind`'s service once each, sent to a real SMTP server on loopback to
the right people only, with no personal data, and audited."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from portal import cli
from portal.audit import AuditAction
from portal.config import Settings
from portal.models import (
    Notification,
    NotificationKind,
    NotificationStatus,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    Role,
    User,
    UserStatus,
)
from portal.notifications.queue import enqueue_about_organisation
from portal.notifications.senders import SmtpSender
from portal.notifications.worker import send_due
from portal.onboarding.reminders import send_warnings, warning_due
from tests.factories import make_agreement, make_organisation, make_user
from tests.integration.test_notifications import (  # noqa: F401 - fixtures
    BASE_URL,
    SmtpServer,
    mail_settings,
    sessions,
    smtp_server,
)
from tests.support.audit_log import events

TODAY = date(2027, 3, 1)
THRESHOLDS = (30, 7)


def queued(session: Session, organisation: Organisation) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            sa.select(Notification).where(Notification.organisation_id == organisation.id)
        )
    )


class Pilot:
    def __init__(self, session: Session) -> None:
        council = make_organisation(session, OrganisationKind.COUNCIL, "Northmoor Council")
        self.school = make_organisation(session, name="Ashby Lane Primary")
        other = make_organisation(session, name="Brookfield Academy")
        self.officer = make_user(session, council, Role.PARTNER_ENGAGEMENT_OFFICER)
        self.lead = make_user(session, self.school, Role.PARTNER_LEAD)
        self.ig = make_user(session, council, Role.IG_OFFICER)
        self.everyone: list[User] = [
            self.officer,
            self.lead,
            self.ig,
            make_user(
                session, council, Role.PARTNER_ENGAGEMENT_OFFICER, status=UserStatus.SUSPENDED
            ),
            make_user(session, self.school, Role.PARTNER_CONTRIBUTOR),
            make_user(session, other, Role.PARTNER_LEAD),
            make_user(session, council, Role.SOCIAL_WORKER),
        ]
        session.commit()


def test_which_warning_is_due() -> None:
    assert warning_due(31, THRESHOLDS, None) is None
    assert warning_due(30, THRESHOLDS, None) == 30
    assert warning_due(30, THRESHOLDS, 30) is None
    assert warning_due(8, THRESHOLDS, 30) is None
    assert warning_due(7, THRESHOLDS, 30) == 7
    assert warning_due(3, THRESHOLDS, None) == 7  # the 30-day one is not sent late as well
    assert warning_due(-2, THRESHOLDS, 30) == 7  # past review, the last warning never went
    assert warning_due(-2, THRESHOLDS, 7) is None


def test_each_warning_is_queued_once_for_the_officers_and_the_partner_leads(
    db_session: Session,
) -> None:
    pilot = Pilot(db_session)
    make_agreement(db_session, pilot.school, review_on=TODAY + timedelta(days=40))
    db_session.commit()
    assert send_warnings(db_session, TODAY, THRESHOLDS) == []

    day_30 = TODAY + timedelta(days=10)
    [warned] = send_warnings(db_session, day_30, THRESHOLDS)
    assert (warned.days, warned.recipients) == (30, 2)
    assert send_warnings(db_session, day_30, THRESHOLDS) == []  # idempotent
    assert send_warnings(db_session, day_30 + timedelta(days=5), THRESHOLDS) == []
    db_session.commit()
    assert {n.recipient_id for n in queued(db_session, pilot.school)} == {
        pilot.officer.id,
        pilot.lead.id,
    }

    [warned] = send_warnings(db_session, TODAY + timedelta(days=34), THRESHOLDS)
    assert warned.days == 7
    assert send_warnings(db_session, TODAY + timedelta(days=45), THRESHOLDS) == []
    db_session.commit()
    assert len(queued(db_session, pilot.school)) == 4
    [first, second] = events(db_session, AuditAction.AGREEMENT_REVIEW_WARNED)
    assert first.object_id == str(pilot.school.id) and first.details["days_before"] == 30
    assert second.details == {"days_before": 7, "review_on": "2027-04-10", "recipients": 2}

    # A reviewed agreement starts its warnings afresh (recording it through the pages clears
    # agreement_warned_days: tests/integration/test_onboarding.py).
    pilot.school.agreement_warned_days = None
    make_agreement(db_session, pilot.school, review_on=TODAY + timedelta(days=400))
    db_session.commit()
    assert send_warnings(db_session, TODAY + timedelta(days=380), THRESHOLDS)[0].days == 30


def test_no_warnings_for_an_organisation_that_has_left(db_session: Session) -> None:
    pilot = Pilot(db_session)
    make_agreement(db_session, pilot.school, review_on=TODAY + timedelta(days=5))
    pilot.school.stage = OrganisationStage.LEFT
    db_session.commit()
    assert send_warnings(db_session, TODAY, THRESHOLDS) == []


def test_the_e_mails_about_an_organisation_reach_only_who_they_are_for_with_no_personal_data(
    db_session: Session,
    sessions: sessionmaker[Session],  # noqa: F811
    mail_settings: Settings,  # noqa: F811
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    pilot = Pilot(db_session)
    review_on = date.today() + timedelta(days=6)
    make_agreement(db_session, pilot.school, review_on=review_on)
    everyone = [person.id for person in pilot.everyone]
    enqueue_about_organisation(
        db_session, NotificationKind.AGREEMENT_REVIEW_DUE, everyone, pilot.school.id
    )
    enqueue_about_organisation(
        db_session, NotificationKind.CHANGE_AWAITING_APPROVAL, everyone, pilot.school.id
    )
    db_session.commit()
    sender = SmtpSender(host="127.0.0.1", port=smtp_server.port, from_address="no-reply@a.test")
    counts = send_due(sessions, sender, mail_settings)
    # The officer and the lead are told of the review; the IG officer and the lead of the
    # change. Nobody else: not the suspended officer, the teacher, another school's lead or a
    # social worker.
    assert (counts.sent, counts.failed) == (4, 10)

    by_recipient: dict[str, list[str]] = {}
    for mail in smtp_server.catcher.received:
        email = mail.email
        body = email.get_content()
        by_recipient.setdefault(mail.to[0], []).append(str(email["Subject"]))
        text = f"{mail.raw.decode('utf-8', errors='replace')}\n{body}"
        for person in pilot.everyone:
            assert person.display_name not in text
        if "review" in str(email["Subject"]):
            assert "Ashby Lane Primary" in body and f"{review_on.day} {review_on:%B %Y}" in body
            assert f"{BASE_URL}/organisations/{pilot.school.id}" in body
        else:
            assert "Ashby Lane Primary" not in text and f"{BASE_URL}/approvals" in body
    assert sorted(by_recipient) == sorted(
        [str(pilot.officer.email), str(pilot.lead.email), str(pilot.ig.email)]
    )
    assert len(by_recipient[str(pilot.lead.email)]) == 2

    db_session.expire_all()
    failed = db_session.scalars(
        sa.select(Notification.last_error).where(Notification.status == NotificationStatus.FAILED)
    ).all()
    assert set(failed) == {"recipient_inactive", "recipient_not_entitled"}
    sent = events(db_session, AuditAction.NOTIFICATION_SENT)
    assert {(e.object_type, e.object_id) for e in sent} == {("organisation", str(pilot.school.id))}


@pytest.fixture
def portal(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The `portal` command, run against the test's app (and so its rolled-back transaction)."""
    monkeypatch.setattr(cli.base, "create_app", lambda **_options: app)
    return CliRunner()


def test_the_daily_command_queues_what_is_due_and_says_so(
    portal: CliRunner, db_session: Session
) -> None:
    pilot = Pilot(db_session)
    make_agreement(db_session, pilot.school, review_on=date.today() + timedelta(days=5))
    db_session.commit()
    first = portal.invoke(cli.cli, ["onboarding", "remind"])
    assert first.exit_code == 0, first.output
    assert f"organisation {pilot.school.id}: 7-day warning queued for 2 people" in first.output
    again = portal.invoke(cli.cli, ["onboarding", "remind"])
    assert again.exit_code == 0 and "No agreement is due a warning today." in again.output
    assert len(queued(db_session, pilot.school)) == 2
