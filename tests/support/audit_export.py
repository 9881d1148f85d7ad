"""An audit log brought to rest and witnessed, for the export tests: every event sequenced, the
tree head signed, written to a real checkpoint directory and time-stamped by the real loopback
TSA, with the witness records the sequencer's witnessing keeps."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.tsa import ROOT_FILE, LoopbackTsa
from portal.audit.signing import CheckpointSigner
from portal.audit.witness import CheckpointStore, TimestampAuthority
from portal.config import Settings
from portal.models import AuditTreeHead, AuditWitness, AuditWitnessRecord
from portal.models.base import utcnow
from tests.conftest import test_settings
from tests.support.audit_log import settle


def tsa_root_file(tsa: LoopbackTsa) -> Path:
    """The loopback TSA's root certificate, as `[audit] tsa_certificate_file` names it."""
    return tsa.directory / ROOT_FILE


def settings_trusting_tsa(
    engine: Engine, keyring_path: Path, audit_key_path: Path, tsa: LoopbackTsa
) -> Settings:
    """The test settings, with the loopback TSA's root as the TSA certificate the portal
    trusts (and puts in its exports)."""
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={
            "signing_key_file": str(audit_key_path),
            "tsa_certificate_file": str(tsa_root_file(tsa)),
        },
    )


def witness(session: Session, head: AuditTreeHead, tsa: LoopbackTsa, store: Path) -> None:
    """Witness `head` as the sequencer does: the store first, then the TSA's token."""
    CheckpointStore(store).put(head.tree_size, head.note)
    token = TimestampAuthority(tsa.url, tsa.trust_roots_pem).stamp(head.note.encode("utf-8"))
    session.add_all(
        [
            AuditWitnessRecord(
                tree_size=head.tree_size,
                witness=AuditWitness.STORE,
                token=None,
                witnessed_at=utcnow(),
            ),
            AuditWitnessRecord(
                tree_size=head.tree_size,
                witness=AuditWitness.TSA,
                token=token,
                witnessed_at=utcnow(),
            ),
        ]
    )
    session.flush()


def witnessed_head(
    session: Session, signer: CheckpointSigner, tsa: LoopbackTsa, store: Path
) -> AuditTreeHead:
    """Sequence every event, sign the tree's head and witness it; committed."""
    head = settle(session, signer)
    assert head is not None, "the log is empty"  # noqa: S101 - a test helper
    witness(session, head, tsa, store)
    session.commit()
    return head
