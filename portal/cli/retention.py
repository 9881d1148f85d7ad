"""Retention from the command line: `portal retention run|hold|release|holds`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from portal.cli.base import CommandError, app_context, cli
from portal.cli.progress import Progress
from portal.models.requests import HoldReason

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from portal.retention.shredding import RetentionReport, Shredding


@cli.group(help="Retention: shred closed requests' content after its period; legal holds.")
def retention() -> None:
    pass


@retention.command("run", help="Crypto-shred the content of every request past its period.")
@click.option("--dry-run", is_flag=True, help="Only list what would be shredded.")
@click.option("--every", type=click.IntRange(min=60), default=None, help="Seconds between runs.")
def run(dry_run: bool, every: int | None) -> None:
    from portal import db
    from portal.retention.shredding import run_retention

    verb = "would shred" if dry_run else "shredded"

    def told(progress: Progress) -> Callable[[Shredding, RetentionReport], None]:
        def shredded(done: Shredding, report: RetentionReport) -> None:
            # Each request's line stays (the record of what was shredded); the count and the
            # rate below it are for a terminal only.
            progress.update(report.shredded + report.skipped, report.due)
            progress.note(
                f"{verb} {done.reference} ({done.outcome.value}): {done.contributions} "
                f"versions of answers, {done.attachments} documents, {done.review_reasons} "
                f"review reasons [{report.shredded} of {report.due}]"
            )

        return shredded

    with app_context() as app:
        settings = app.config["PORTAL_SETTINGS"]
        while True:
            with Progress("Retention", unit="requests due") as progress:
                report = run_retention(
                    db.database(app).sessions,
                    settings.retention,
                    settings.attachments,
                    dry_run=dry_run,
                    progress=told(progress),
                )
            click.echo(
                f"{'Would shred' if dry_run else 'Shredded'} the content of {report.shredded} "
                f"requests; {report.skipped} were skipped (held, or done by another process)."
            )
            if report.files_swept:
                click.echo(
                    f"Deleted {report.files_swept} files of documents shredded earlier (left "
                    "behind by a run or a withdrawal that stopped before deleting them)."
                )
            if every is None:
                return
            time.sleep(every)


@retention.command("hold", help="Keep a request's content past its period (audited).")
@click.argument("reference")
@click.option("--reason", type=click.Choice([reason.value for reason in HoldReason]), required=True)
def hold(reference: str, reason: str) -> None:
    from portal.audit import SYSTEM
    from portal.retention.holds import place_hold

    with _hold_change() as session:
        place_hold(session, reference, HoldReason(reason), SYSTEM, None)
    click.echo(f"{reference.strip().upper()} is on legal hold ({reason}).")


@retention.command("release", help="Release a request's legal hold (audited).")
@click.argument("reference")
def release(reference: str) -> None:
    from portal.audit import SYSTEM
    from portal.retention.holds import release_hold

    with _hold_change() as session:
        release_hold(session, reference, SYSTEM)
    click.echo(
        f"Released the legal hold on {reference.strip().upper()}: its content will be shredded "
        "once its retention period has passed."
    )


@retention.command("holds", help="List the requests on legal hold.")
def list_holds() -> None:
    from portal import db
    from portal.retention.holds import held_requests

    with app_context() as app, db.database(app).sessions() as session:
        found = held_requests(session)
    for held in found:
        by = held.placed_by or "an operator"
        click.echo(
            f"{held.reference}  {held.case_reference}  {held.status.value}  {held.reason.value}  "
            f"since {held.placed_at:%Y-%m-%d} by {by}"
        )
    click.echo(f"{len(found)} requests on legal hold.")


@contextmanager
def _hold_change() -> Iterator[Session]:
    """One transaction, committed only if the change succeeds; a refusal is one sentence."""
    from portal import db
    from portal.retention.holds import HoldRefused

    with app_context() as app, db.database(app).sessions.begin() as session:
        try:
            yield session
        except HoldRefused as refused:
            raise CommandError(f"{refused}.") from None
