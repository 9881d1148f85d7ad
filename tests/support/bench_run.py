"""The bench tests' run: the smoke volumes generated in a database of their own, dropped
afterwards (tests/bench/*)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from bench.scale import SMOKE, Scale
from bench.volumes import Volumes, generate
from loopback.databases import create_database, drop_database, migrated_engine
from portal.crypto import FileKeyring


@dataclass
class Run:
    """What a bench module needs of a run (bench.volumes.Target and the benches' own)."""

    scale: Scale
    engine: Engine
    keyring: FileKeyring

    def progress(self, message: str) -> None:
        print(message)


@contextmanager
def smoke_run(
    postgres_admin: Engine, keyring: FileKeyring, name: str
) -> Iterator[tuple[Run, Volumes, str]]:
    """A database named after `name`, migrated and filled with the smoke volumes: the run, what
    was generated and the database's URL."""
    url = create_database(postgres_admin, name)
    engine = migrated_engine(url, keyring)
    run = Run(SMOKE, engine, keyring)
    try:
        yield run, generate(run), url
    finally:
        engine.dispose()
        drop_database(postgres_admin, url)
