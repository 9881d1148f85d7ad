"""The benchmarks' volume generator at smoke scale, in a database of its own: the counts asked
for, a trail the product's sequencer has placed in the tree whole (its leaves recomputed from
the events make the stored tree) and the portal continues, pages that open what was sealed, and
no plaintext in the sealed columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench import targets
from bench.casework import PURPOSES
from bench.scale import SMOKE
from bench.volumes import Volumes
from portal import create_app, db
from portal.audit import AuditAction, merkle, record_event
from portal.audit.chain import canonical_encoding
from portal.audit.record import event_fields
from portal.audit.sequencer import sequence_pending, tree_size, waiting
from portal.audit.tree_store import StoredTree
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent, AuditLeaf, Child, DelegationRequest, User
from portal.requests.services import children_of
from tests.conftest import test_settings
from tests.factories import sign_in
from tests.support.bench_run import Run, smoke_run


@pytest.fixture(scope="module")
def generated(postgres_admin: Engine, keyring: FileKeyring) -> Iterator[tuple[Run, Volumes, str]]:
    with smoke_run(postgres_admin, keyring, "volumes") as made:
        yield made


@pytest.fixture(scope="module")
def portal(
    generated: tuple[Run, Volumes, str], keyring_path: Path, audit_key_path: Path
) -> Iterator[Flask]:
    settings = test_settings(
        generated[2], keyring_path, audit={"signing_key_file": str(audit_key_path)}
    )
    application = create_app(settings)
    yield application
    db.database(application).engine.dispose()


def test_the_volumes_asked_for(generated: tuple[Run, Volumes, str]) -> None:
    run, volumes, _url = generated
    counts = volumes.counts
    assert counts["organisations"] == SMOKE.organisations
    assert counts["cases"] == SMOKE.cases
    assert counts["delegation_requests"] == SMOKE.requests
    assert counts["audit_events"] == SMOKE.audit_events
    assert counts["children"] >= SMOKE.cases and counts["contributions"] > 0
    chosen = targets.partners(run.engine, readers=2, submitters=1, drafts_each=1)
    assert chosen.readers and chosen.submitters


def test_the_trail_is_in_the_tree_and_the_portal_continues_it(
    generated: tuple[Run, Volumes, str],
) -> None:
    engine = generated[0].engine
    with Session(engine) as session:
        assert (tree_size(session), waiting(session)) == (SMOKE.audit_events, 0)
        assert _root_from_the_events(session) == StoredTree(session).root(SMOKE.audit_events)
        times = session.scalars(
            sa.select(AuditEvent.occurred_at)
            .join(AuditLeaf, AuditLeaf.event_seq == AuditEvent.seq)
            .order_by(AuditLeaf.leaf_index)
        ).all()
        assert times == sorted(times)
        last = session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
        appended = record_event(session, AuditAction.AUDIT_VERIFIED)
        session.commit()
        assert last is not None and appended.seq > last
        assert sequence_pending(session).sequenced == 1
        session.commit()
        size = SMOKE.audit_events + 1
        assert _root_from_the_events(session) == StoredTree(session).root(size)


def _root_from_the_events(session: Session) -> bytes:
    """The tree's root recomputed from each leaf's event, in the tree's order."""
    rows = session.execute(
        sa.select(AuditEvent.__table__)
        .join(AuditLeaf, AuditLeaf.event_seq == AuditEvent.seq)
        .order_by(AuditLeaf.leaf_index)
    ).all()
    tree = merkle.CompactRange()
    tree.append_many(merkle.leaf_hash(canonical_encoding(event_fields(row))) for row in rows)
    return tree.root()


def test_a_partner_sees_their_inbox_and_the_sealed_request(
    generated: tuple[Run, Volumes, str], portal: Flask
) -> None:
    run = generated[0]
    chosen = targets.partners(run.engine, readers=1, submitters=1, drafts_each=1)
    (reader, references), *_others = chosen.readers.items()
    client = portal.test_client()
    with Session(run.engine) as session:
        person = session.get(User, reader)
        assert person is not None
        sign_in(portal, client, person)
        request = session.scalars(
            sa.select(DelegationRequest).where(DelegationRequest.reference == references[0])
        ).one()
        cipher = RecordCipher(run.keyring, session)
        names = [cipher.open_text(child, "name_enc") or "" for child in children_of(request)]
        purpose = cipher.open_text(request, "purpose_enc") or ""
    page = client.get("/inbox")
    assert page.status_code == 200
    assert all(reference in page.get_data(as_text=True) for reference in references)
    shown = client.get(f"/inbox/{request.reference}")
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert all(name in html for name in names) and purpose[:30] in html


def test_an_ig_officer_searches_the_generated_trail(
    generated: tuple[Run, Volumes, str], portal: Flask
) -> None:
    run = generated[0]
    chosen = targets.searches(run.engine, 1)
    client = portal.test_client()
    with Session(run.engine) as session:
        officer = session.get(User, chosen.officer)
        assert officer is not None
        sign_in(portal, client, officer)
    reference = chosen.cases[0]
    found = client.get(f"/audit?case_reference={reference}")
    assert found.status_code == 200, found.get_data(as_text=True)[:2000]
    assert found.get_data(as_text=True).count(reference) > 1


def test_sealed_columns_hold_no_plaintext(generated: tuple[Run, Volumes, str]) -> None:
    run = generated[0]
    with Session(run.engine) as session:
        cipher = RecordCipher(run.keyring, session)
        child = session.scalars(sa.select(Child).limit(1)).one()
        name = (cipher.open_text(child, "name_enc") or "").encode()
        raw = session.execute(sa.text("SELECT name_enc, date_of_birth_enc FROM children")).all()
        purposes = session.scalars(sa.text("SELECT purpose_enc FROM delegation_requests")).all()
        answers = session.scalars(sa.text("SELECT answers_enc FROM contributions")).all()
    assert name and not any(name in bytes(value) for row in raw for value in row)
    said = PURPOSES[0].split(":")[0].encode()
    assert not any(said in bytes(value) for value in purposes)
    assert not any(b"breakfast club" in bytes(value) for value in answers if value)
