"""The scaled-out portal behind nginx (tests/support/topology.py), started once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from portal.crypto import FileKeyring
from tests.support.topology import Topology, scale_out


@pytest.fixture(scope="module")
def topology(
    postgres_admin: Engine,
    keyring: FileKeyring,
    keyring_path: Path,
    audit_key_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Topology]:
    with scale_out(
        postgres_admin, keyring, keyring_path, audit_key_path, tmp_path_factory.mktemp("topology")
    ) as running:
        yield running
