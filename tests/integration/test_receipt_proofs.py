"""A partner's receipt with its proof that the submission is in the council's audit log
(portal/contributions/receipt_proofs.py): the leaf holds nothing the partner may not see, the
bundle comes only once a witnessed checkpoint covers it, the copy's readers alone may have it,
and the public page proves it in plain words, or says exactly what a forgery broke."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy.orm import Session

from portal.audit import AuditAction, merkle
from portal.audit.chain import canonical_encoding
from portal.audit.note import CheckpointBody, open_note, sign_note
from portal.audit.record import event_fields
from portal.audit.runtime import audit_keys
from portal.audit.signing import CheckpointSigner
from portal.models import AuditEvent, AuditWitness
from tests.integration.test_contributions import request_row
from tests.integration.test_receipt_check import GENUINE, check
from tests.integration.test_sent_copy import copy_path, send_a_version
from tests.support.receipt_proofs import (
    bundle_of,
    forge_witnessed_head,
    proof_path,
    settle_and_witness,
)
from tests.support.world import World, client_for

IN_LOG = "It is in the council’s audit log"
NOT_IN_LOG = "It is not proven to be in the council’s audit log"
DOWNLOAD = "Download the receipt with its proof that it is in the council’s audit log"
SOON = "will be available within a few minutes"


@pytest.fixture
def sent(app: Flask, world: World) -> str:
    return send_a_version(app, world)


def logged_event(session: Session, action: AuditAction) -> AuditEvent:
    found = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == action.value))
    assert found is not None
    return found


def upload(app: Flask, bundle: dict[str, Any]) -> str:
    status, html = check(app.test_client(), json.dumps(bundle).encode(), "proof.json")
    assert status == 200, html
    return html


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_leaf_a_partner_is_given_holds_no_case_reference(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    council = logged_event(db_session, AuditAction.CONTRIBUTION_SUBMITTED)
    partners = logged_event(db_session, AuditAction.RECEIPT_LOGGED)
    assert council.case_reference == world.case.cms_reference
    assert partners.case_reference is None
    assert partners.object_id == council.object_id and partners.details == council.details
    assert partners.actor_user_id == world.teacher.id
    assert partners.actor_organisation_id == world.school.id
    settle_and_witness(app, db_session)
    leaf = base64.b64decode(bundle_of(app, world, sent)["leaf_data"])
    assert leaf == canonical_encoding(event_fields(partners))
    assert world.case.cms_reference.encode() not in leaf
    assert set(json.loads(leaf)["details"]) == {"request", "version", "receipt_sha256"}


def test_the_bundle_comes_only_once_a_witnessed_checkpoint_covers_the_receipt(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    teacher = client_for(app, world.teacher)
    page = teacher.get(copy_path(sent)).get_data(as_text=True)
    assert SOON in page and DOWNLOAD not in page
    assert teacher.get(proof_path(sent)).status_code == 404
    # Signed, and held by the store, but not yet time-stamped: not witnessed.
    settle_and_witness(app, db_session, (AuditWitness.STORE,))
    assert teacher.get(proof_path(sent)).status_code == 404
    assert SOON in teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    settle_and_witness(app, db_session)
    assert DOWNLOAD in teacher.get(copy_path(sent)).get_data(as_text=True)
    assert DOWNLOAD in teacher.get(f"/inbox/{sent}").get_data(as_text=True)
    response = teacher.get(proof_path(sent))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    bundle = json.loads(response.data)
    assert bundle["format"] == "portal-receipt-proof/1"
    keys = audit_keys(app)
    assert keys.signer is not None
    opened = open_note(bundle["checkpoint"], [(keys.origin, keys.signer.public)])
    assert bundle["log_origin"] == keys.origin == opened.body.origin
    assert bundle["verifier_key"].startswith(f"{keys.origin}+")
    assert bundle["receipt"] == json.loads(teacher.get(f"/inbox/{sent}/receipts/1/download").data)
    downloads = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.RECEIPT_PROOF_DOWNLOADED.value)
    ).all()
    assert [(e.actor_user_id, e.details["after_close"]) for e in downloads] == [
        (world.teacher.id, False)
    ]


def test_the_page_proves_the_bundle_and_its_consistency_with_the_latest_checkpoint(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    first = settle_and_witness(app, db_session)
    bundle = bundle_of(app, world, sent)
    html = upload(app, bundle)
    assert GENUINE in html and IN_LOG in html
    assert f"entry {bundle['leaf_index']} " in html
    assert f"checkpoint of {first.tree_size} entries" in html
    assert f"newest witnessed checkpoint, of {first.tree_size} entries" in html
    # The log grows (another version sent); the old bundle is consistent with the new head.
    send_a_version(app, world)
    later = settle_and_witness(app, db_session)
    assert later.tree_size > first.tree_size
    html = upload(app, bundle)
    assert IN_LOG in html and f"newest witnessed checkpoint, of {later.tree_size} entries" in html


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 1
    return b64(bytes(raw))


def _other_key_note(note: str) -> str:
    body = CheckpointBody.parse(note.split("\n\n")[0] + "\n")
    stranger = CheckpointSigner(Ed25519PrivateKey.generate())
    return sign_note(body, stranger, body.origin)


def _resized_note(app: Flask, note: str, size: int) -> str:
    """The same root claimed for another size, signed with the council's own key (an insider):
    only the proofs can catch it."""
    body = CheckpointBody.parse(note.split("\n\n")[0] + "\n")
    keys = audit_keys(app)
    assert keys.signer is not None
    resized = CheckpointBody(body.origin, size, body.root, body.extensions)
    return sign_note(resized, keys.signer, body.origin)


def _another_leaf(session: Session) -> str:
    council = logged_event(session, AuditAction.CONTRIBUTION_SUBMITTED)
    return b64(canonical_encoding(event_fields(council)))


FORGERIES = {
    "a hash flipped": lambda app, s, b: {
        **b,
        "inclusion_proof": [_flip(b["inclusion_proof"][0]), *b["inclusion_proof"][1:]],
    },
    "the wrong index": lambda app, s, b: {**b, "leaf_index": b["leaf_index"] + 1},
    "a size too small": lambda app, s, b: {
        **b,
        "checkpoint": _resized_note(app, b["checkpoint"], b["leaf_index"]),
    },
    # The same path can fold to the same root for a bigger size: then the checkpoint is not
    # consistent with the log's own.
    "a bigger size": lambda app, s, b: {
        **b,
        "checkpoint": _resized_note(app, b["checkpoint"], 1000),
    },
    "another key": lambda app, s, b: {**b, "checkpoint": _other_key_note(b["checkpoint"])},
    "a different leaf": lambda app, s, b: {**b, "leaf_data": _another_leaf(s)},
}
EXPECTED = {
    "a hash flipped": "The proof does not show the log entry as entry",
    "the wrong index": "The proof does not show the log entry as entry",
    "a size too small": "The proof does not show the log entry as entry",
    "a bigger size": "",
    "another key": "is not signed by any of the council’s published keys",
    "a different leaf": "The log entry in this file is not this receipt’s",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_forged_proof_fails_and_the_page_says_what(
    app: Flask, world: World, sent: str, db_session: Session, forgery: str
) -> None:
    settle_and_witness(app, db_session)
    # Enough leaves that every proof has hashes to flip.
    for _ in range(3):
        send_a_version(app, world)
    settle_and_witness(app, db_session)
    bundle = bundle_of(app, world, sent)
    assert bundle["inclusion_proof"]
    html = upload(app, FORGERIES[forgery](app, db_session, bundle))
    assert GENUINE in html  # the receipt itself is still genuine
    assert NOT_IN_LOG in html and IN_LOG not in html
    assert EXPECTED[forgery] in html


def test_a_later_checkpoint_that_rewrote_the_log_is_not_consistent(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    """An insider with the key signs a bigger head over a rewritten tree, and has it
    witnessed: the old bundle's checkpoint is not consistent with it."""
    first = settle_and_witness(app, db_session)
    bundle = bundle_of(app, world, sent)
    forged = forge_witnessed_head(app, db_session, first.tree_size + 5)
    html = upload(app, bundle)
    assert NOT_IN_LOG in html
    assert f"newest witnessed checkpoint ({forged.tree_size} entries) is not consistent" in html


def test_only_the_copys_readers_may_have_it_and_after_close_as_the_copy(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    settle_and_witness(app, db_session)
    assert client_for(app, world.outsider).get(proof_path(sent)).status_code == 404
    assert client_for(app, world.worker).get(proof_path(sent)).status_code in (403, 404)
    assert client_for(app, world.outsider).get(proof_path("DR-NOTHERE")).status_code == 404
    assert client_for(app, world.teacher).get(proof_path(sent, 9)).status_code == 404
    request_row(db_session, sent).expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db_session.commit()
    assert client_for(app, world.teacher).get(proof_path(sent)).status_code == 200
    assert client_for(app, world.lead).get(proof_path(sent)).status_code == 200
    assert client_for(app, world.colleague).get(proof_path(sent)).status_code == 404
    after = db_session.scalars(
        sa.select(AuditEvent.details).where(
            AuditEvent.action == AuditAction.RECEIPT_PROOF_DOWNLOADED.value
        )
    ).all()
    assert [d["after_close"] for d in after] == [True, True]


def test_the_public_log_gives_witnessed_heads_consistency_proofs_and_its_key(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    client = app.test_client()
    assert client.get("/audit-log/checkpoint").status_code == 404
    first = settle_and_witness(app, db_session)
    send_a_version(app, world)
    later = settle_and_witness(app, db_session)
    # A newer head that is not witnessed yet is not handed out.
    send_a_version(app, world)
    settle_and_witness(app, db_session, ())
    answer = client.get("/audit-log/checkpoint")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True) == later.note
    query = f"/audit-log/consistency?old={first.tree_size}&new={later.tree_size}"
    proof = [base64.b64decode(h) for h in client.get(query).get_json()]
    assert merkle.verify_consistency(
        first.tree_size, later.tree_size, first.root_hash, later.root_hash, proof
    )
    for bad in (
        "old=0&new=3",
        f"old={later.tree_size}&new={first.tree_size}",
        "old=1",
        "old=01&new=2",
        "old=1&new=99999999999999999999",
        "old=x&new=y",
        f"old=1&new={later.tree_size + 1}",
    ):
        assert client.get(f"/audit-log/consistency?{bad}").status_code == 400, bad
    keys = audit_keys(app)
    assert keys.signer is not None
    key = client.get("/audit-log/key").get_data(as_text=True)
    assert key.splitlines()[0].startswith(f"{keys.origin}+")


def test_the_public_log_is_rate_limited_as_one_budget(app: Flask) -> None:
    from portal.auth.rate_limits import AUDIT_LOG_LIMIT

    allowed = int(AUDIT_LOG_LIMIT.split()[0])
    client = app.test_client()
    paths = ["/audit-log/key", "/audit-log/checkpoint", "/audit-log/consistency?old=1&new=1"]
    statuses = [client.get(paths[n % 3]).status_code for n in range(allowed + 1)]
    assert 429 not in statuses[:allowed] and statuses[-1] == 429


def test_a_damaged_bundle_is_refused_with_what_is_wrong(
    app: Flask, world: World, sent: str, db_session: Session
) -> None:
    settle_and_witness(app, db_session)
    bundle = bundle_of(app, world, sent)
    damaged = {**bundle, "leaf_data": "not base64!", "inclusion_proof": ["AAAA"], "leaf_index": -1}
    del damaged["checkpoint"]
    status, html = check(app.test_client(), json.dumps(damaged).encode(), "proof.json")
    assert status == 400
    assert "checkpoint, inclusion_proof, leaf_data, leaf_index." in html
    status, html = check(app.test_client(), json.dumps({**bundle, "receipt": None}).encode())
    assert status == 400 and "This proof file carries no receipt." in html
