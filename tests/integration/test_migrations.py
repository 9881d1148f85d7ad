"""Migrations build an empty PostgreSQL and SQLite database, agree with the models, and go
back down over a database holding data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.databases import create_database, drop_database
from portal import db, schema
from portal.crypto import FileKeyring
from portal.crypto.keycheck import register_keyring
from portal.crypto.records import RecordCipher
from portal.lifecycle import REQUEST_LIFECYCLE, ContributionStatus, RequestStatus
from portal.models import (
    Base,
    Contribution,
    LogoutTokenUse,
    Notification,
    NotificationKind,
    Role,
)
from portal.models.cases import Child
from portal.models.requests import ChildConfirmation, ChildKnown, HoldReason, LegalHold
from tests.conftest import BACKENDS
from tests.factories import make_case, make_organisation, make_request, make_user


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    admin = request.getfixturevalue("postgres_admin")
    url = create_database(admin, "migrate")
    engine = db.make_engine(url)
    yield engine
    engine.dispose()
    drop_database(admin, url)


def test_upgrade_from_empty_builds_every_table(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)

    tables = set(sa.inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with empty_engine.connect() as connection:
        assert schema.current_revision(connection) == schema.head_revision()


def test_models_and_migrations_agree(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)

    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == [], f"models and migrations differ: {differences}"


def test_downgrade_to_nothing_and_back(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine)
    schema.downgrade(empty_engine, "base")
    assert set(sa.inspect(empty_engine).get_table_names()) <= {"alembic_version"}

    schema.upgrade(empty_engine)
    assert set(Base.metadata.tables) <= set(sa.inspect(empty_engine).get_table_names())


# Rows written as an older schema held them, in SQL: the models are the head's.
_ORGANISATIONS = sa.table(
    "organisations",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("self_provisioning", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
_PROVIDERS = sa.table(
    "identity_providers",
    *(sa.column(name, sa.Uuid()) for name in ("id", "organisation_id")),
    *(
        sa.column(name, sa.String())
        for name in ("slug", "display_name", "issuer", "client_id", "client_auth_method", "scopes")
    ),
    *(
        sa.column(name, sa.JSON())
        for name in (
            "signing_algorithms",
            "claim_mapping",
            "group_roles",
            "allowed_email_domains",
            "allowed_tenants",
            "allowed_hosted_domains",
            "required_acr_values",
        )
    ),
    sa.column("require_strong_amr", sa.Boolean()),
    sa.column("enabled", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def insert_organisation(
    connection: sa.Connection, name: str, kind: str = "school", **values: object
) -> uuid.UUID:
    organisation_id = uuid.uuid4()
    now = datetime.now(UTC)
    connection.execute(
        _ORGANISATIONS.insert().values(
            id=organisation_id,
            name=name,
            kind=kind,
            status="active",
            self_provisioning=False,
            created_at=now,
            updated_at=now,
        )
    )
    if values:
        columns = ", ".join(f"{column} = :{column}" for column in values)
        connection.execute(
            sa.text(f"UPDATE organisations SET {columns} WHERE name = :name"),  # noqa: S608
            {**values, "name": name},
        )
    return organisation_id


def insert_provider(
    connection: sa.Connection, organisation_id: uuid.UUID, slug: str = "school", **values: object
) -> uuid.UUID:
    provider_id = uuid.uuid4()
    now = datetime.now(UTC)
    connection.execute(
        _PROVIDERS.insert().values(
            id=provider_id,
            organisation_id=organisation_id,
            slug=slug,
            display_name=slug.title(),
            issuer=f"https://{slug}.idp.test",
            client_id="portal",
            client_auth_method="client_secret_basic",
            scopes="openid email profile",
            signing_algorithms=["RS256"],
            claim_mapping={"email": "email"},
            group_roles={},
            allowed_email_domains=values.pop("allowed_email_domains", []),
            allowed_tenants=[],
            allowed_hosted_domains=[],
            required_acr_values=[],
            require_strong_amr=False,
            enabled=True,
            created_at=values.pop("created_at", now),
            updated_at=now,
        )
    )
    return provider_id


def test_0005_goes_back_down_over_a_request_with_a_contribution_on_legal_hold(
    empty_engine: Engine, keyring: FileKeyring
) -> None:
    # Made at the head (the models are the head's), then down through every later migration.
    schema.upgrade(empty_engine)
    with Session(empty_engine) as session, session.begin():
        register_keyring(session, keyring)
        cipher = RecordCipher(keyring, session)
        case = make_case(session, cipher, "Amelia Hart")[0]
        school = make_organisation(session)
        worker = make_user(session, case.team.organisation, Role.SOCIAL_WORKER)
        request = make_request(session, cipher, case, school, worker)
        teacher = make_user(session, school, Role.PARTNER_CONTRIBUTOR)
        draft = Contribution(
            request=request, version=1, status=ContributionStatus.DRAFT, created_by_id=teacher.id
        )
        session.add_all([draft, LegalHold(request=request, reason=HoldReason.LITIGATION)])
        request_id = request.id

    # SQLite rebuilding delegation_requests (foreign keys on) would fail: contributions and
    # legal holds refer to it.
    schema.downgrade(empty_engine, "0004")

    inspector = sa.inspect(empty_engine)
    assert "legal_holds" not in inspector.get_table_names()
    columns = {column["name"] for column in inspector.get_columns("delegation_requests")}
    assert "content_shredded_at" not in columns
    with empty_engine.connect() as connection:
        kept = connection.execute(sa.text("SELECT id FROM delegation_requests")).scalars().all()
        assert [uuid.UUID(str(found)) for found in kept] == [request_id]
        assert connection.scalar(sa.text("SELECT count(*) FROM contributions")) == 1
        if connection.dialect.name == "sqlite":
            assert connection.execute(sa.text("PRAGMA foreign_key_check")).all() == []
    schema.upgrade(empty_engine)  # and up again, over the same data


def test_migrations_have_one_head_recorded_in_the_head_file() -> None:
    # Two migrations written in parallel branches must be merged before they land.
    heads = ScriptDirectory.from_config(schema.alembic_config()).get_heads()
    assert len(heads) == 1
    assert schema.HEAD_FILE.read_text(encoding="utf-8").strip() == heads[0]


def test_migration_files_are_numbered_in_order() -> None:
    script = ScriptDirectory.from_config(schema.alembic_config())
    revisions = list(reversed(list(script.walk_revisions())))
    numbers = [int(revision.revision) for revision in revisions]
    assert numbers == list(range(1, len(numbers) + 1))
    for revision in revisions:
        assert Path(revision.path).name.startswith(f"{revision.revision}_")


def test_0007_adds_remembered_logout_tokens_to_a_database_in_use(empty_engine: Engine) -> None:
    schema.upgrade(empty_engine, "0006")
    with empty_engine.begin() as connection:
        provider_id = insert_provider(connection, insert_organisation(connection, "School"))

    schema.upgrade(empty_engine)

    expires = datetime.now(UTC)
    with Session(empty_engine) as session, session.begin():
        session.add(
            LogoutTokenUse(
                identity_provider_id=provider_id, jti_sha256="0" * 64, expires_at=expires
            )
        )
    with pytest.raises(sa.exc.IntegrityError), Session(empty_engine) as session, session.begin():
        session.add(
            LogoutTokenUse(
                identity_provider_id=provider_id, jti_sha256="0" * 64, expires_at=expires
            )
        )
    schema.downgrade(empty_engine, "0006")
    assert "logout_token_uses" not in sa.inspect(empty_engine).get_table_names()
    with empty_engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT count(*) FROM identity_providers")) == 1


def test_0009_goes_down_and_up_over_children_confirmed_and_a_request_closed_unknown(
    empty_engine: Engine, keyring: FileKeyring
) -> None:
    schema.upgrade(empty_engine)
    with Session(empty_engine) as session, session.begin():
        register_keyring(session, keyring)
        cipher = RecordCipher(keyring, session)
        case, child = make_case(session, cipher, "Amelia Hart")
        cipher.seal_text(child, "nhs_number_enc", "9434765919")
        child_id = child.id
        school = make_organisation(session)
        worker = make_user(session, case.team.organisation, Role.SOCIAL_WORKER)
        teacher = make_user(session, school, Role.PARTNER_CONTRIBUTOR)
        request = make_request(session, cipher, case, school, worker)
        request.children = [child]
        REQUEST_LIFECYCLE.move(request, RequestStatus.CHILD_NOT_KNOWN)
        session.add(
            ChildConfirmation(
                request=request, child=child, answer=ChildKnown.NOT_KNOWN, confirmed_by=teacher
            )
        )
        session.add(
            Notification(
                kind=NotificationKind.CHILD_NOT_KNOWN, recipient_id=worker.id, request_id=request.id
            )
        )
        sibling = Child(case=case, position=1)
        cipher.seal_text(sibling, "name_enc", "Oliver Hart")
        cipher.seal_text(sibling, "date_of_birth_enc", "2017-09-02")
        session.add(sibling)
        session.flush()
        ids = (request.id, sibling.id, teacher.id)
    with pytest.raises(sa.exc.IntegrityError), Session(empty_engine) as session, session.begin():
        # "Known" always says what it matched on.
        session.add(
            ChildConfirmation(
                request_id=ids[0], child_id=ids[1], answer=ChildKnown.KNOWN, confirmed_by_id=ids[2]
            )
        )

    schema.downgrade(empty_engine, "0008")

    inspector = sa.inspect(empty_engine)
    assert "child_confirmations" not in inspector.get_table_names()
    assert {"nhs_number_enc", "upn_enc"}.isdisjoint(
        column["name"] for column in inspector.get_columns("children")
    )
    with empty_engine.connect() as connection:
        # Closed before a decision with nothing shared: the nearest status 0008 knows.
        assert connection.scalar(sa.text("SELECT status FROM delegation_requests")) == "revoked"
        assert connection.scalar(sa.text("SELECT count(*) FROM notifications")) == 0
        if connection.dialect.name == "sqlite":
            assert connection.execute(sa.text("PRAGMA foreign_key_check")).all() == []
    schema.upgrade(empty_engine)  # and up again, over the same data
    with Session(empty_engine) as session:
        again = session.get_one(Child, child_id)
        assert again.nhs_number_enc is None
        # A child copied before 0009 is listed, with no identifier known to fail its check.
        assert (again.invalid_identifiers, again.delisted_at) == ([], None)


def test_0009_keeps_one_child_per_cms_person_id_on_a_case(
    empty_engine: Engine, keyring: FileKeyring
) -> None:
    schema.upgrade(empty_engine)

    def add(case_id: uuid.UUID, position: int, person_id: str | None) -> None:
        with Session(empty_engine) as session, session.begin():
            child = Child(case_id=case_id, position=position, cms_person_id=person_id)
            cipher = RecordCipher(keyring, session)
            cipher.seal_text(child, "name_enc", "Oliver Hart")
            cipher.seal_text(child, "date_of_birth_enc", "2017-09-02")
            session.add(child)

    with Session(empty_engine) as session, session.begin():
        register_keyring(session, keyring)
        cipher = RecordCipher(keyring, session)
        hart, amelia = make_case(session, cipher, "Amelia Hart")
        amelia.cms_person_id = "P-100234-1"
        other = make_case(session, cipher, "Ruby Chen")[0]
        cases = (hart.id, other.id)
    add(cases[0], 1, None)
    add(cases[0], 2, None)  # children without a person id are never alike to the index
    add(cases[1], 1, "P-100234-1")  # the person on another case
    with pytest.raises(sa.exc.IntegrityError):
        add(cases[0], 3, "P-100234-1")


def test_0009_leaves_one_child_per_cms_person_id_on_a_case(
    empty_engine: Engine, keyring: FileKeyring
) -> None:
    # Before 0009 a CMS answer naming one person twice made two children with one person id.
    schema.upgrade(empty_engine)
    with Session(empty_engine) as session, session.begin():
        register_keyring(session, keyring)
        cipher = RecordCipher(keyring, session)
        case, first = make_case(session, cipher, "Amelia Hart")
        second = Child(case=case, position=1, cms_person_id="P-1")
        cipher.seal_text(second, "name_enc", "Oliver Hart")
        cipher.seal_text(second, "date_of_birth_enc", "2017-09-02")
        first.cms_person_id = "P-1-before"
        session.add(second)
        session.flush()
        ids = (first.id, second.id)
    schema.downgrade(empty_engine, "0008")
    with empty_engine.begin() as connection:
        connection.execute(sa.text("UPDATE children SET cms_person_id = 'P-1'"))

    schema.upgrade(empty_engine)

    with Session(empty_engine) as session:
        kept, cleared = (session.get_one(Child, child_id) for child_id in ids)
        assert (kept.cms_person_id, kept.delisted_at) == ("P-1", None)
        assert cleared.cms_person_id is None and cleared.delisted_at is not None


def test_0011_brings_organisations_already_there_into_the_pilot_as_live(
    empty_engine: Engine,
) -> None:
    schema.upgrade(empty_engine, "0010")
    created = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with empty_engine.begin() as connection:
        school = insert_organisation(
            connection,
            "Ashby Lane Primary",
            sharing_agreement_reference="ISA-7",
            sharing_agreement_expires_on="2027-08-31",
        )
        open_ended = insert_organisation(
            connection, "Northmoor Constabulary", "police", sharing_agreement_reference="ISA-8"
        )
        insert_organisation(connection, "No Agreement Health", "health")
        insert_provider(
            connection, school, allowed_email_domains=["ashby.sch.uk"], created_at=created
        )
        insert_provider(connection, open_ended, "police")
        connection.execute(
            sa.text(
                "INSERT INTO users (id, issuer, subject, organisation_id, display_name, status, "
                "created_at) VALUES (:id, 'https://school.idp.test', 's1', :org, 'A', 'active', "
                ":at)"
            ),
            {
                "id": uuid.uuid4().hex if connection.dialect.name == "sqlite" else uuid.uuid4(),
                "org": school.hex if connection.dialect.name == "sqlite" else school,
                "at": created,
            },
        )

    schema.upgrade(empty_engine)

    with empty_engine.connect() as connection:
        stages = connection.execute(sa.text("SELECT DISTINCT stage FROM organisations")).all()
        assert stages == [("live",)]
        agreements = connection.execute(
            sa.text("SELECT name, version, review_on FROM sharing_agreements ORDER BY name")
        ).all()
        assert [(name, version) for name, version, _review in agreements] == [
            ("ISA-7", "1"),
            ("ISA-8", "1"),
        ]
        assert str(agreements[0][2]) == "2027-08-31"
        assert str(agreements[1][2]) > datetime.now(UTC).date().isoformat()  # a year on
        domains = connection.execute(
            sa.text("SELECT email_domains FROM organisations WHERE name = 'Ashby Lane Primary'")
        ).scalar_one()
        assert (json.loads(domains) if isinstance(domains, str) else domains) == ["ashby.sch.uk"]
        trusted, tested = connection.execute(
            sa.text("SELECT trusted_since, tested_at FROM identity_providers WHERE slug = 'school'")
        ).one()
        assert str(trusted)[:10] == str(tested)[:10] == "2026-01-05"
    schema.downgrade(empty_engine, "0010")
    with empty_engine.connect() as connection:
        kept = connection.execute(
            sa.text(
                "SELECT sharing_agreement_reference FROM organisations "
                "WHERE name = 'Ashby Lane Primary'"
            )
        ).scalar_one()
        assert kept == "ISA-7"
