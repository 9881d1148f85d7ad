"""Data minimisation per kind of partner: on every partner page that shows a child, a child who
has both an NHS number and a UPN shows exactly the identifier that partner's kind may see (a
school the UPN, health the NHS number, police none unless configured, others none), and only
that one is offered to match on. Council staff see both. Through the real app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import OrganisationKind, Role
from tests.conftest import test_settings
from tests.factories import csrf_token, make_organisation, make_request, make_user
from tests.integration.test_contributions import TEMPLATE, answer_everything, send
from tests.support.confirming import confirm_children
from tests.support.world import World, client_for

# Both valid (python-stdnum checks them), in the forms the CMS stores and people read.
NHS_NUMBER = ("9434765919", "943 476 5919")
UPN = ("B801200005001",)
FORMS = {"nhs_number": NHS_NUMBER, "upn": UPN}

KINDS = [
    (OrganisationKind.SCHOOL, [], {"upn"}),
    (OrganisationKind.HEALTH, [], {"nhs_number"}),
    (OrganisationKind.POLICE, [], set()),
    (OrganisationKind.POLICE, ["nhs_number"], {"nhs_number"}),
    (OrganisationKind.OTHER, [], set()),
]


@pytest.fixture
def configured_app(
    request: pytest.FixtureRequest,
    engine: Engine,
    keyring_path: Path,
    audit_key_path: Path,
    connection: Connection,
) -> Iterator[Flask]:
    """The real app, with [requests] police_identifiers as the test names it."""
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        requests={"police_identifiers": request.param},
    )
    application = create_app(settings, check_database=False)
    db.database(application).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield application
    db.database(application).engine.dispose()


def request_to(
    session: Session, keyring: FileKeyring, world: World, kind: OrganisationKind
) -> tuple[str, object]:
    """A request about Amelia, who has both identifiers, to a partner of this kind."""
    cipher = RecordCipher(keyring, session)
    amelia = min(world.case.children, key=lambda child: child.position)
    cipher.seal_text(amelia, "nhs_number_enc", NHS_NUMBER[0])
    cipher.seal_text(amelia, "upn_enc", UPN[0])
    partner = make_organisation(session, kind)
    person = make_user(session, partner, Role.PARTNER_CONTRIBUTOR)
    found = make_request(session, cipher, world.case, partner, world.worker)
    found.children = [amelia]
    session.commit()
    return found.reference, person


def assert_shows_exactly(html: str, allowed: set[str], page: str) -> None:
    """The allowed identifiers appear (in the form people read), and no other in any form."""
    for identifier, forms in FORMS.items():
        if identifier in allowed:
            assert forms[-1] in html, f"{page} does not show {identifier}"
    assert_shows_none_but(html, allowed, page)


def assert_shows_none_but(html: str, allowed: set[str], page: str) -> None:
    for identifier, forms in FORMS.items():
        if identifier not in allowed:
            for written in forms:
                assert written not in html, f"{page} shows {identifier} as {written!r}"


@pytest.mark.parametrize(
    ("kind", "configured_app", "allowed"),
    KINDS,
    indirect=["configured_app"],
    ids=["school", "health", "police", "police-with-nhs-number", "other"],
)
def test_each_kind_of_partner_sees_only_its_identifier_on_every_page(
    configured_app: Flask,
    world: World,
    db_session: Session,
    keyring: FileKeyring,
    kind: OrganisationKind,
    allowed: set[str],
) -> None:
    app = configured_app
    reference, person = request_to(db_session, keyring, world, kind)
    partner: FlaskClient = client_for(app, person)  # type: ignore[arg-type]
    amelia = str(min(world.case.children, key=lambda child: child.position).id)

    before = {
        "request page": partner.get(f"/inbox/{reference}").get_data(as_text=True),
        "confirmation page": partner.get(f"/inbox/{reference}/children").get_data(as_text=True),
    }
    for page, html in before.items():
        assert_shows_exactly(html, allowed, page)
    # Only what the partner may see is offered to match on; anything else is refused.
    asking = before["confirmation page"]
    for identifier in FORMS:
        offered = f'name="matched-{amelia}" type="radio" value="{identifier}"' in asking
        assert offered == (identifier in allowed), identifier
        if identifier not in allowed:
            refused = partner.post(
                f"/inbox/{reference}/children",
                data={
                    "csrf_token": csrf_token(asking),
                    f"known-{amelia}": "known",
                    f"matched-{amelia}": identifier,
                },
            )
            assert refused.status_code == 400, identifier
    matched = next(iter(allowed), "name_and_date_of_birth")
    saved = confirm_children(partner, reference, {amelia: ("known", matched)})
    assert saved.status_code == 302

    for section in TEMPLATE.sections:
        html = partner.get(f"/inbox/{reference}/answer/{section.id}").get_data(as_text=True)
        assert_shows_none_but(html, allowed, f"section {section.id}")
    answer_everything(partner, reference, [amelia])
    check = partner.get(f"/inbox/{reference}/answer/check").get_data(as_text=True)
    assert_shows_exactly(check, allowed, "check your answers")
    assert send(partner, reference).status_code == 302
    after = {
        "receipt": partner.get(f"/inbox/{reference}/receipts/1").get_data(as_text=True),
        "request page, sent": partner.get(f"/inbox/{reference}").get_data(as_text=True),
        "confirmation page, sent": partner.get(f"/inbox/{reference}/children").get_data(
            as_text=True
        ),
    }
    for page, html in after.items():
        assert_shows_exactly(html, allowed, page)
    assert_shows_none_but(partner.get("/inbox").get_data(as_text=True), allowed, "inbox")

    # The council sees every identifier the CMS holds, and what the partner matched on.
    worker = client_for(app, world.worker)
    for page in (f"/requests/{reference}", f"/requests/{reference}/versions/1"):
        html = worker.get(page).get_data(as_text=True)
        assert_shows_exactly(html, {"nhs_number", "upn"}, page)
        label = {"upn": "UPN", "nhs_number": "NHS number"}.get(matched, "name and date of birth")
        assert f"holds a record for this child (matched on {label})" in html
