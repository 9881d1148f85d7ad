"""Database migrations: `portal db …`."""

from __future__ import annotations

import click

from portal import schema
from portal.cli.base import app_context, cli, engine_of


@cli.group(help="Database schema migrations (a deploy step; the portal never migrates itself).")
def db() -> None:
    pass


@db.command("upgrade", help="Migrate the database to REVISION (default: the latest).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    with app_context() as app:
        click.echo(f"Migrating the database to {revision}…")
        schema.upgrade(engine_of(app), revision)
        with engine_of(app).connect() as connection:
            click.echo(f"The database is at revision {schema.current_revision(connection)}.")


@db.command("downgrade", help="Migrate the database back to REVISION.")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    with app_context() as app:
        schema.downgrade(engine_of(app), revision)
        click.echo(f"The database is at revision {revision}.")


@db.command("current", help="Show the database's revision and the code's.")
def db_current() -> None:
    with app_context() as app, engine_of(app).connect() as connection:
        click.echo(f"database: {schema.current_revision(connection) or 'empty'}")
        click.echo(f"code:     {schema.head_revision()}")


@db.command("revision", help="Write the next numbered migration from the models (developers).")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    with app_context() as app:
        schema.new_revision(engine_of(app), message)
        head = schema.head_revision()
        schema.HEAD_FILE.write_text(head + "\n", encoding="utf-8")
        click.echo(f"Wrote migration {head}; review it before committing.")
