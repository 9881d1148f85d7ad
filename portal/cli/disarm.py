"""`portal disarm`: the disarm worker, which makes each document's safe copy (docs/disarm.md)."""

from __future__ import annotations

import os
import socket

import click

from portal.cli.base import app_context, cli, stop_on_signals
from portal.config import Settings


@cli.command(
    "disarm",
    help="Make the safe copy of each stored document until stopped, one at a time, in a "
    "sandboxed converter. SIGTERM finishes the document in hand. Run it with no network "
    "(infra/systemd/portal-disarm@.service).",
)
@click.option("--once", is_flag=True, help="Make the safe copies waiting now, then exit.")
@click.option("--name", default=None, help="This worker's name in claims and the logs.")
def disarm(once: bool, name: str | None) -> None:
    from portal import db
    from portal.crypto.runtime import keyring
    from portal.disarm.worker import DisarmWorker

    with app_context() as app:
        settings: Settings = app.config["PORTAL_SETTINGS"]
        name = name or f"{socket.gethostname()}:{os.getpid()}"
        with stop_on_signals() as stop:
            worker = DisarmWorker(
                db.database(app).sessions, settings, keyring(app), name=name, stop=stop
            )
            click.echo(f"Disarm worker {name}: making safe copies.")
            if once:
                counts = worker.make_due()
                click.echo(
                    f"Made safe {counts.ready}, could not make safe {counts.failed}, "
                    f"to try again {counts.retrying}, lost to another worker {counts.lost}."
                )
                return
            worker.run()
        click.echo("Stopped.")
