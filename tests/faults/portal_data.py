"""A portal database on a private PostgreSQL cluster: migrated and seeded with the test world,
and checked afterwards for anything half-written."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.databases import migrated_engine
from portal.audit import AuditAction
from portal.audit.signing import CheckpointSigner
from portal.cli.backup import sealed_models, unkeyed_records
from portal.crypto import FileKeyring
from portal.models import AuditEvent, Contribution, DelegationRequest
from tests.faults.servers import PrivatePostgres
from tests.support.audit_log import settle
from tests.support.audit_tree import assert_one_tree
from tests.support.world import World, build_world


def migrated_database(cluster: PrivatePostgres, keyring: FileKeyring, name: str) -> Engine:
    """A new database `name` on the cluster, migrated, with the keyring registered."""
    admin = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return migrated_engine(cluster.database_url(name), keyring)


def seeded_database(cluster: PrivatePostgres, keyring: FileKeyring, name: str) -> tuple[str, World]:
    """A new database `name` on the cluster, migrated, with the world's people and case."""
    engine = migrated_database(cluster, keyring, name)
    url = cluster.database_url(name)
    with Session(engine, expire_on_commit=False) as session:
        world = build_world(session, keyring)
    engine.dispose()
    return url, world


def check_nothing_is_half_written(
    url: str, audit_key_path: Path, issued: list[str], submitted: list[str]
) -> None:
    """Every request has its one issue event, every sent version its receipt and its event,
    every sealed column its data key, and the audit log is one tree of every event that can be
    signed; `issued` and `submitted` (what people were told had happened) did happen."""
    engine = sa.create_engine(url)
    with Session(engine) as session:
        references = set(session.scalars(sa.select(DelegationRequest.reference)))
        events = sa.select(AuditEvent.object_id)
        issue_events = session.scalars(
            events.where(AuditEvent.action == AuditAction.REQUEST_ISSUED.value)
        )
        assert sorted(issue_events) == sorted(references)
        assert set(issued) <= references
        sent = list(
            session.scalars(sa.select(Contribution).where(Contribution.submitted_at.is_not(None)))
        )
        sent_events = set(
            session.scalars(
                events.where(AuditEvent.action == AuditAction.CONTRIBUTION_SUBMITTED.value)
            )
        )
        for contribution in sent:
            assert contribution.receipt_digest and contribution.receipt_signature
            assert str(contribution.id) in sent_events
        assert len(sent_events) == len(sent)
        assert set(submitted) <= {c.request.reference for c in sent}
        for model, columns in sealed_models():
            assert unkeyed_records(session, model, columns) == 0, model
        placed = assert_one_tree(session)
        head = settle(session, CheckpointSigner.load(audit_key_path))
        assert head is not None and head.tree_size == len(placed)
    engine.dispose()
