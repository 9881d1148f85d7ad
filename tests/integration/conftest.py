"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from portal.crypto import FileKeyring
from tests.support.world import World, build_world


@pytest.fixture
def world(db_session: Session, keyring: FileKeyring) -> World:
    return build_world(db_session, keyring)
