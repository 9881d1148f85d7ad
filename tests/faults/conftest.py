"""The fault tests: each breaks a part of its own (a private PostgreSQL cluster, a private
Redis, a small file system; tests/faults/servers.py starts and stops them) and checks what the
portal does while it is broken and after it is mended. The shared servers are never touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.servers import PrivatePostgres, private_postgres
from tests.integration.conftest import world

__all__ = ["cluster", "world"]


@pytest.fixture(scope="session")
def cluster() -> Iterator[PrivatePostgres]:
    """A PostgreSQL 15 cluster of the fault tests' own, which they may cut off and restart."""
    with private_postgres() as server:
        yield server
