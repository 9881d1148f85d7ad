"""Bringing a sent version's receipt to where its proof can be had: the log sequenced, its head
signed, and the head witnessed (records inserted as the witnessing writes them once the store
and the TSA hold it), and reading the bundle the partner downloads."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit.note import CheckpointBody, sign_note
from portal.audit.runtime import audit_keys
from portal.audit.witness import TimestampAuthority
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord
from portal.models.base import utcnow
from tests.support.audit_log import settle
from tests.support.world import World, client_for

# Stands for the TSA's token where no TSA runs: the page checks tokens only against a
# configured TSA root (none in these tests), and the script never checks them.
PRETEND_TOKEN = b"a time-stamp token"


def proof_path(reference: str, version: int = 1) -> str:
    return f"/inbox/{reference}/versions/{version}/receipt-proof.json"


def witness(
    session: Session,
    head: AuditTreeHead,
    witnesses: tuple[AuditWitness, ...] = tuple(AuditWitness),
    stamp: bytes = PRETEND_TOKEN,
) -> None:
    """Record `head` as held by these witnesses, as the witnessing does (`stamp`: the TSA's
    token over the note)."""
    for which in witnesses:
        token = stamp if which is AuditWitness.TSA else None
        session.add(
            AuditWitnessRecord(
                tree_size=head.tree_size, witness=which, token=token, witnessed_at=utcnow()
            )
        )
    session.flush()


def settle_and_witness(
    app: Flask,
    session: Session,
    witnesses: tuple[AuditWitness, ...] = tuple(AuditWitness),
    tsa: TimestampAuthority | None = None,
) -> AuditTreeHead:
    """Sequence every event, sign the tree's head and have it witnessed (time-stamped by
    `tsa` when given); commit."""
    keys = audit_keys(app)
    assert keys.signer is not None
    head = settle(session, keys.signer, keys.origin)
    assert head is not None
    witnessed = session.scalars(
        sa.select(AuditWitnessRecord.witness).where(AuditWitnessRecord.tree_size == head.tree_size)
    )
    missing = tuple(w for w in witnesses if w not in set(witnessed))
    stamp = tsa.stamp(head.note.encode("utf-8")) if tsa is not None else PRETEND_TOKEN
    witness(session, head, missing, stamp)
    session.commit()
    return head


def forge_witnessed_head(app: Flask, session: Session, size: int) -> AuditTreeHead:
    """A head of `size` leaves signed with the council's own key over a root that is not the
    tree's (the log rewritten by someone holding the key), and witnessed; committed."""
    keys = audit_keys(app)
    assert keys.signer is not None
    body = CheckpointBody(keys.origin, size, bytes(range(32)))
    forged = AuditTreeHead(
        tree_size=size,
        root_hash=body.root,
        signed_at=utcnow(),
        key_id=keys.signer.public.key_id,
        note=sign_note(body, keys.signer, keys.origin),
    )
    session.add(forged)
    witness(session, forged)
    session.commit()
    return forged


def bundle_of(app: Flask, world: World, reference: str) -> dict[str, Any]:
    response = client_for(app, world.teacher).get(proof_path(reference))
    assert response.status_code == 200, response.status_code
    document: dict[str, Any] = json.loads(response.data)
    return document
