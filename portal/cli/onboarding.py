"""Onboarding from the command line: `portal onboarding remind`, the daily warnings before an
information-sharing agreement's review date (portal-onboarding-remind.timer)."""

from __future__ import annotations

import click

from portal.cli.base import app_context, cli


@cli.group(help="Onboarding partners: warnings before their agreements' review dates.")
def onboarding() -> None:
    pass


@onboarding.command(
    "remind",
    help="Queue the e-mails warning that an information-sharing agreement is due for review "
    "(at each of [onboarding] agreement_warning_days before it, once each).",
)
def remind() -> None:
    from portal import db
    from portal.onboarding.reminders import send_warnings
    from portal.uk_time import uk_today

    with app_context() as app:
        settings = app.config["PORTAL_SETTINGS"]
        with db.database(app).sessions.begin() as session:
            warned = send_warnings(
                session, uk_today(), tuple(settings.onboarding.agreement_warning_days)
            )
        if not warned:
            click.echo("No agreement is due a warning today.")
            return
        for warning in warned:
            click.echo(
                f"organisation {warning.organisation_id}: {warning.days}-day warning queued "
                f"for {warning.recipients} people"
            )
        click.echo("The e-mail sender (portal notifications send) sends them.")
