"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from tests.support.clamd import Clamd
from tests.support.world import World, build_world


@pytest.fixture
def world(db_session: Session, keyring: FileKeyring) -> World:
    return build_world(db_session, keyring)


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """A real clamd whose only signature is the EICAR test file's (no download is possible)."""
    with Clamd(tmp_path_factory.mktemp("clamd")) as running:
        yield running
