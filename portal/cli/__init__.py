"""The `portal` command: migrations, keys, identity providers, demo data and other operator
tasks. One module per command group; importing them registers their commands."""

from __future__ import annotations

import sys

import click

from portal.cli import (  # noqa: F401 - importing registers the commands
    access,
    attachments,
    audit,
    backup,
    connector,
    database,
    demo,
    disarm,
    idp,
    inspection,
    keys,
    notifications,
    onboarding,
    requests,
    retention,
)
from portal.cli.base import cli
from portal.config import ConfigError

__all__ = ["cli", "main"]


def main() -> None:
    from portal.crypto import KeyringError

    try:
        cli(standalone_mode=True)
    except (ConfigError, KeyringError) as error:
        click.echo(f"portal: {error}", err=True)
        sys.exit(2)
