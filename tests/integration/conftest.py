"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from portal.audit.signing import CheckpointSigner
from portal.audit.witnessing import Witnesses
from portal.crypto import FileKeyring
from tests.support.clamd import Clamd
from tests.support.log_checks import store_witnesses
from tests.support.world import World, build_world


@pytest.fixture
def world(db_session: Session, keyring: FileKeyring) -> World:
    return build_world(db_session, keyring)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A real clamd whose only signature is the EICAR test file's (no download is possible)."""
    with Clamd(tmp_path_factory.mktemp("clamd")) as running:
        yield running


@pytest.fixture(scope="module")
def signer(audit_key_path: Path) -> CheckpointSigner:
    """The tests' audit signing key (the one the `settings` fixture configures)."""
    return CheckpointSigner.load(audit_key_path)


@pytest.fixture
def witnesses(tmp_path: Path) -> Witnesses:
    """A checkpoint store of the test's own, and no TSA."""
    return store_witnesses(tmp_path / "store")
