"""Housekeeping for requests: `portal requests …`."""

from __future__ import annotations

import time

import click

from portal.cli.base import app_context, cli


@cli.group(help="Delegation requests: housekeeping.")
def requests() -> None:
    pass


@requests.command("expire", help="Close requests past their closing date and destroy drafts.")
@click.option("--every", type=click.IntRange(min=1), default=None, help="Seconds between passes.")
def expire(every: int | None) -> None:
    from portal import db
    from portal.requests.services import expire_lapsed

    with app_context() as app:
        while True:
            with db.database(app).sessions.begin() as session:
                closed = expire_lapsed(session)
            click.echo(f"Closed {len(closed)} lapsed requests.")
            if every is None:
                return
            time.sleep(every)
