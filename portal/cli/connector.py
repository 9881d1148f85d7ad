"""The CMS connector from the command line: `portal worker` and `portal cms …`."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.engine import make_url

from portal.cli.base import app_context, cli, stop_on_signals
from portal.config import ConfigError, Settings

if TYPE_CHECKING:
    from portal.connector.rest import RestAdapter


@cli.command(
    "worker",
    help="Deliver accepted contributions to the CMS until stopped. SIGTERM finishes the send "
    "in flight and gives back the rest. On SQLite, one worker at a time.",
)
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics on --metrics-host at this port.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@click.option("--name", default=None, help="This worker's name in claims and the audit trail.")
def worker(once: bool, metrics_port: int | None, metrics_host: str, name: str | None) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    from portal import db
    from portal.connector.metrics import WorkerMetrics
    from portal.connector.worker import DeliveryWorker
    from portal.crypto.runtime import keyring

    # Logs (set up with the app: [observability] log_format) carry ids, codes and outcomes
    # only (see portal/connector/worker.py): never a payload or token.
    with app_context() as app:
        settings: Settings = app.config["PORTAL_SETTINGS"]
        adapter = _adapter(settings)
        sessions = db.database(app).sessions
        metrics = WorkerMetrics(CollectorRegistry(), sessions)
        if metrics_port is not None:
            start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
        _warn_of_a_short_lease(settings)
        name = name or f"{socket.gethostname()}:{os.getpid()}"
        with _one_worker_on_sqlite(settings), stop_on_signals() as stop:
            delivery = DeliveryWorker(
                sessions,
                adapter,
                settings,
                keyring(app),
                name=name,
                stop=stop,
                observe=metrics.observe,
            )
            click.echo(
                f"Delivery worker {name}: delivering to the {adapter.mapping.name} at "
                f"{settings.cms.base_url}"
                + (f"; metrics on {metrics_host}:{metrics_port}" if metrics_port else ""),
            )
            if once:
                counts = delivery.deliver_due()
                click.echo(
                    f"Delivered {counts.delivered}, retrying {counts.retrying}, "
                    f"dead-lettered {counts.dead_lettered}."
                )
                return
            delivery.run()
        adapter.close()
        click.echo("Stopped.")


def _warn_of_a_short_lease(settings: Settings) -> None:
    cms = settings.cms
    longest_send = 4 * (cms.connect_timeout_seconds + cms.timeout_seconds)
    if cms.lease_seconds < longest_send:
        click.echo(
            f"Warning: [cms] lease_seconds ({cms.lease_seconds:g}) is shorter than a send can "
            f"take ({longest_send:g} s with a token refresh): another worker may send the "
            "same delivery meanwhile (the CMS keeps one record, but the work is doubled).",
            err=True,
        )


@cli.group(help="The council's case management system: queue status and reconciliation.")
def cms() -> None:
    pass


@cms.command("status", help="How many deliveries wait, how long the oldest has, and more.")
def status() -> None:
    from portal import db
    from portal.connector.outbox import queue_figures

    with app_context() as app, db.database(app).sessions() as session:
        figures = queue_figures(session)
    click.echo(f"Waiting:        {figures.pending}")
    click.echo(f"Oldest waiting: {figures.oldest_pending_seconds:.0f} seconds")
    click.echo(f"Dead-lettered:  {figures.dead_lettered}")
    click.echo(f"Delivered:      {figures.delivered}")


@cms.command(
    "reconcile",
    help="Compare what the portal recorded as delivered with what the CMS holds; list every "
    "difference. Exit status 1 when there is one.",
)
def reconcile_command() -> None:
    from portal import db
    from portal.audit import AuditAction, record_event
    from portal.connector.adapter import CmsFailure
    from portal.connector.reconcile import reconcile

    with app_context() as app:
        adapter = _adapter(app.config["PORTAL_SETTINGS"])
        with db.database(app).sessions.begin() as session:
            try:
                result = reconcile(session, adapter)
            except CmsFailure as failure:
                raise click.ClickException(f"The CMS could not be read: {failure.code}") from None
            details: dict[str, str | int | bool | None] = {
                "portal_deliveries": result.portal_deliveries,
                "cms_records": result.cms_records,
                "differences": len(result.differences),
            }
            for kind in sorted({difference.kind for difference in result.differences}):
                details[kind] = result.count(kind)
            record_event(session, AuditAction.DELIVERIES_RECONCILED, details=details)
        adapter.close()
    click.echo(
        f"Checked {result.portal_deliveries} deliveries the portal recorded against "
        f"{result.cms_records} records the CMS holds."
    )
    if not result.differences:
        click.echo("No differences.")
        return
    click.echo(f"{len(result.differences)} differences:")
    for difference in result.differences:
        click.echo(
            f"  {difference.kind}: key {difference.idempotency_key}; portal "
            f"{difference.portal_status or '-'} {difference.portal_record_id or '-'}; "
            f"CMS {difference.cms_record_id or '-'}"
        )
    raise SystemExit(1)


def _adapter(settings: Settings) -> RestAdapter:
    from portal.connector.factory import ConnectorNotConfigured, adapter_for

    try:
        return adapter_for(settings.cms)
    except ConnectorNotConfigured as error:
        raise ConfigError(str(error)) from None


@contextmanager
def _one_worker_on_sqlite(settings: Settings) -> Iterator[None]:
    """SQLite cannot skip rows another worker holds: a lock file beside the database lets one
    worker run at a time. PostgreSQL runs as many as wanted."""
    url = make_url(settings.database.url)
    if url.get_backend_name() != "sqlite" or not url.database:
        yield
        return
    path = Path(f"{url.database}.worker-lock")
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException(
                "Another delivery worker is running on this SQLite database; SQLite runs one "
                "at a time (use PostgreSQL for more)."
            ) from None
        yield
