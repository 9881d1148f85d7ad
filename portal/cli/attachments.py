"""Attachments: `portal attachments check-scanner` (docs/attachments.md, "Scanning")."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from portal.cli.base import CommandError, app_context, cli
from portal.cli.progress import Progress

if TYPE_CHECKING:
    from portal.attachments.scanner_check import ProbeResult, ScannerCheck
    from portal.settings import AttachmentSettings

_SCANNER_HINT = (
    "Install infra/clamav/clamd.conf as clamd's configuration, restart clamd and run this "
    'again (docs/attachments.md, "Scanning").'
)
_INSPECTION_HINT = (
    "The portal's own inspection let through what it must refuse: this portal is not fit "
    'to take uploads (docs/attachments.md, "Inspection").'
)


@cli.group("attachments", help="Uploaded documents and their malware scanner.")
def attachments() -> None:
    pass


@attachments.command(
    "check-scanner",
    help="Send test files built from the EICAR test string through the portal's inspection "
    "and the configured clamd, and fail unless each is refused. Run it after installing or "
    "upgrading clamd or changing its configuration; readiness reports the last result.",
)
def check_scanner_command() -> None:
    from portal.attachments import scanning
    from portal.attachments.probes import PROBES
    from portal.attachments.scanner_check import check_scanner
    from portal.attachments.scanning import ClamdScanner

    with app_context() as app:
        settings = app.config["PORTAL_SETTINGS"].attachments
        if settings.scanner != "clamd":
            raise CommandError('[attachments] scanner is "none": there is no scanner to check')
        if settings.clamd_socket is None and settings.clamd_host is None:
            raise CommandError("[attachments] names neither clamd_socket nor clamd_host")
        where = str(settings.clamd_socket or f"{settings.clamd_host}:{settings.clamd_port}")
        scanner = ClamdScanner(
            socket_path=settings.clamd_socket,
            host=settings.clamd_host,
            port=settings.clamd_port,
            timeout=settings.scan_timeout_seconds,
        )
        # Each refusal is expected here: not the warnings an upload's refusal logs.
        quiet = _quiet(logging.getLogger(scanning.__name__))
        with quiet, Progress("Checking the scanner", len(PROBES), "test files") as progress:
            check = check_scanner(
                settings, scanner, on_probe=lambda probe: progress.update(PROBES.index(probe))
            )
            progress.update(len(check.results))
        if check.scanner_version is not None:
            _show(check, where)
        _record(check, settings)
    if check.scanner_version is None:
        raise CommandError(f"the scanner does not answer at {where}: is clamd running?")
    sys.exit(0 if check.passed else 1)


def _record(check: ScannerCheck, settings: AttachmentSettings) -> None:
    from portal.attachments.scanner_check import record, record_path

    try:
        record(check, settings, datetime.now(UTC))
    except OSError as error:
        where = record_path(settings)
        message = f"the result could not be recorded in {where}: {error.strerror}"
        raise CommandError(message) from error


def _show(check: ScannerCheck, where: str) -> None:
    click.echo(f"Scanner: {check.scanner_version} at {where}")
    click.echo("")
    rows = [("test file", "inspection", "scanner", "result")]
    for result in check.results:
        inspection = "accepted" if result.inspection_refusal is None else "refused"
        if result.inspection_refusal:
            inspection += f" ({result.inspection_refusal})"
        scanner = "refused" if result.scanner_refused else "accepted"
        if result.scan.signature:
            scanner += f" ({result.scan.signature})"
        elif not result.scanner_refused and result.scan.reason != "clean":
            scanner = f"no verdict ({result.scan.reason})"
        rows.append((result.probe.name, inspection, scanner, _outcome(result)))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[3]]).rstrip())
    click.echo("")
    failed = [r for r in check.results if r.problem is not None]
    if not failed:
        click.echo(f"Passed: each of the {len(check.results)} test files was refused.")
        return
    for result in failed:
        click.echo(f"FAILED {result.probe.name} ({result.probe.description}): {result.problem}.")
    if any(result.probe.scanner_must_refuse for result in failed):
        click.echo(_SCANNER_HINT)
    else:
        click.echo(_INSPECTION_HINT)


def _outcome(result: ProbeResult) -> str:
    if result.problem is not None:
        return "FAILED"
    if not result.probe.scanner_must_refuse:
        return "ok (inspection's job)"
    return "ok"


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)
