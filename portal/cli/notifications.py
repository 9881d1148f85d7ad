"""E-mail notifications from the command line: `portal notifications …`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.cli.base import app_context, cli, stop_on_signals
from portal.config import PROJECT_ROOT, ConfigError, Settings, is_loopback_host

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from portal.db_outage import DatabaseOutage
    from portal.notifications.senders import Sender

DEMO_MAIL_DIRECTORY = PROJECT_ROOT / "instance" / "demo" / "mail"


@cli.group(help="E-mail notifications: the background sender, and a development SMTP server.")
def notifications() -> None:
    pass


@notifications.command(
    "send", help="Queue the reminders that are due and send what is waiting: once, or repeatedly."
)
@click.option("--every", type=click.IntRange(min=1), default=None, help="Seconds between passes.")
@click.option(
    "--loop", is_flag=True, help="Repeat every [notifications] send_interval_seconds seconds."
)
def send(every: int | None, loop: bool) -> None:
    from portal import db
    from portal.db_outage import DATABASE_DOWN, DatabaseOutage
    from portal.notifications.senders import sender_for

    with app_context() as app:
        settings: Settings = app.config["PORTAL_SETTINGS"]
        sender = sender_for(settings)
        sessions = db.database(app).sessions
        interval = every or (settings.notifications.send_interval_seconds if loop else None)
        with stop_on_signals() as stop:
            # Repeating, the sender rides out a database outage: logged once, tried again
            # after a short backoff. Once, it fails as before.
            outage = DatabaseOutage("e-mail sender", stop) if interval else None
            while not stop.is_set():
                try:
                    report = _one_pass(sessions, sender, settings, outage)
                except DATABASE_DOWN as error:
                    if outage is None:
                        raise
                    outage.failed(error)
                    continue
                if outage is not None:
                    outage.answered()
                if interval is None:
                    click.echo(report or "Nothing to send.")
                    return
                if report:
                    click.echo(report)
                stop.wait(interval)
        click.echo("Stopped.")


def _one_pass(
    sessions: sessionmaker[Session],
    sender: Sender,
    settings: Settings,
    outage: DatabaseOutage | None,
) -> str:
    """Queue the reminders that have come due, then send; a line saying what happened."""
    from portal.models.base import utcnow
    from portal.notifications.queue import schedule_reminders
    from portal.notifications.worker import send_due

    now = utcnow()
    days = settings.notifications.reminder_days_before_due
    with sessions.begin() as session:
        queued = schedule_reminders(session, now, days_before_due=days)
    counts = send_due(sessions, sender, settings, now, outage=outage)
    if not (queued or counts.sent or counts.retrying or counts.failed):
        return ""
    return (
        f"Queued {queued} reminders; sent {counts.sent}, retrying {counts.retrying}, "
        f"failed {counts.failed}."
    )


@notifications.command(
    "smtp-sink", help="A development SMTP server on loopback that saves each e-mail as a file."
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8025, show_default=True)
@click.option(
    "--directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEMO_MAIL_DIRECTORY,
    show_default=True,
    help="Where each received e-mail is saved as an .eml file.",
)
def smtp_sink(host: str, port: int, directory: Path) -> None:
    from portal.notifications.sink import serve

    if not is_loopback_host(host):
        raise ConfigError(
            f"The development SMTP server keeps e-mail on this machine: use --host 127.0.0.1, "
            f"not {host}."
        )
    click.echo(f"Receiving e-mail on {host}:{port}; saving each message in {directory}/")
    with stop_on_signals() as stop:
        serve(host, port, directory, stop, lambda path: click.echo(f"Saved {path.name}"))
    click.echo("Stopped.")
