"""Cutting off access in an incident: `portal organisations …` and `portal people …`.

Each change ends the sessions it must at once and is audited as the system, in one transaction
with the change. Identity providers are switched off with `portal idp disable`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.cli.base import CommandError, app_context, cli
from portal.models import Organisation, OrganisationStatus, User


@contextmanager
def _transaction() -> Iterator[Session]:
    from portal import db

    with app_context() as app, db.database(app).sessions.begin() as store:
        yield store


@cli.group(help="Partner organisations' access (suspend one in an incident).")
def organisations() -> None:
    pass


@organisations.command("list", help="List organisations and whether their access is suspended.")
def organisations_list() -> None:
    with _transaction() as store:
        found = store.scalars(sa.select(Organisation).order_by(Organisation.name)).all()
        lines = [f"{o.status.value:<10} {o.kind.value:<8} {o.name}" for o in found]
    click.echo("\n".join(lines) if lines else "No organisations yet.")


@organisations.command(
    "suspend", help="Stop everyone at an organisation signing in, and end their sessions now."
)
@click.argument("name")
def organisations_suspend(name: str) -> None:
    _set_status(name, OrganisationStatus.SUSPENDED)


@organisations.command("reinstate", help="Let an organisation's people sign in again.")
@click.argument("name")
def organisations_reinstate(name: str) -> None:
    _set_status(name, OrganisationStatus.ACTIVE)


def _set_status(name: str, status: OrganisationStatus) -> None:
    from portal.admin.services import OrganisationRefused, set_organisation_status
    from portal.audit import SYSTEM

    with _transaction() as store:
        organisation = store.scalar(sa.select(Organisation).where(Organisation.name == name))
        if organisation is None:
            raise CommandError(
                f"There is no organisation named {name!r}: `portal organisations list` names them."
            )
        try:
            ended = set_organisation_status(store, organisation, status, actor=SYSTEM)
        except OrganisationRefused as error:
            raise CommandError(str(error)) from None
    if ended is None:
        click.echo(f"{name} was already {status.value}.")
    elif status == OrganisationStatus.SUSPENDED:
        click.echo(f"Suspended {name}: nobody there can sign in; {ended} sessions ended.")
    else:
        click.echo(f"Reinstated {name}: its people can sign in again.")


@cli.group(help="People's access (suspend one person in an incident).")
def people() -> None:
    pass


@people.command("suspend", help="Suspend a person (e-mail address or id); end their sessions.")
@click.argument("who")
def people_suspend(who: str) -> None:
    _change_person(who, suspend=True)
    click.echo(f"Suspended {who}: their sessions have ended and they cannot sign in.")


@people.command("reinstate", help="Reinstate a suspended person (by e-mail address or id).")
@click.argument("who")
def people_reinstate(who: str) -> None:
    _change_person(who, suspend=False)
    click.echo(f"Reinstated {who}: they can sign in again.")


def _change_person(who: str, *, suspend: bool) -> None:
    from portal.people import services
    from portal.people.policy import Refused

    change = services.suspend if suspend else services.reinstate
    with _transaction() as store:
        try:
            change(store, None, _person(store, who))
        except Refused as error:
            raise CommandError(f"{error}.") from None


def _person(store: Session, who: str) -> User:
    """The one person with this id or e-mail address (addresses are matched ignoring case)."""
    try:
        condition = User.id == uuid.UUID(who)
    except ValueError:
        condition = sa.func.lower(User.email) == who.lower()
    found = store.scalars(sa.select(User).where(condition)).all()
    if not found:
        raise CommandError(f"Nobody is known by {who!r}.")
    if len(found) > 1:
        ids = ", ".join(str(person.id) for person in found)
        raise CommandError(
            f"{len(found)} people have the address {who!r} (at different organisations): "
            f"name one by id ({ids})."
        )
    return found[0]
