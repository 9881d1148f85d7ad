"""The benchmark-only switch ([benchmark] security_off, portal/benchmark.py): refused outside
PORTAL_ENV=bench; off by default; on, it stores sealed columns and documents as plaintext and
writes no audit event, which is what the security-tax figure compares against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal import benchmark
from portal.attachments.store import begin_attachment
from portal.audit import AuditAction, record_event
from portal.config import ConfigError, Settings, load_settings
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import AuditEvent
from portal.settings import BenchmarkSettings
from tests.factories import make_case

BENCH_DATABASE = "postgresql+psycopg://127.0.0.1/portal_bench_0123456789"
NEEDED = {"PORTAL_DATABASE__URL": BENCH_DATABASE, "PORTAL_KEYRING__PATH": "keyring.json"}
OFF = {"PORTAL_BENCHMARK__SECURITY_OFF": "true"}


@pytest.mark.parametrize("environment", ["production", "demo", "test"])
def test_security_off_is_refused_outside_the_benchmarks(environment: str) -> None:
    with pytest.raises(ConfigError, match="only with PORTAL_ENV=bench"):
        load_settings(environ={"PORTAL_ENV": environment} | NEEDED | OFF)


def test_security_off_is_refused_on_any_database_but_a_benchmarks_own() -> None:
    real = {"PORTAL_DATABASE__URL": "postgresql+psycopg://db.council.example/portal"}
    with pytest.raises(ConfigError, match="portal_bench_"):
        load_settings(environ={"PORTAL_ENV": "bench"} | NEEDED | real | OFF)


def test_settings_made_without_the_checks_cannot_switch_security_off(settings: Settings) -> None:
    unchecked = settings.model_copy(update={"benchmark": BenchmarkSettings(security_off=True)})
    with pytest.raises(ConfigError, match="only with PORTAL_ENV=bench"):
        benchmark.apply(unchecked)
    assert not benchmark.security_off()


def test_the_benchmarks_may_switch_security_off_and_default_to_on() -> None:
    assert load_settings(environ={"PORTAL_ENV": "bench"} | NEEDED | OFF).benchmark.security_off
    assert not load_settings(environ={"PORTAL_ENV": "bench"} | NEEDED).benchmark.security_off


@pytest.fixture
def switched_off(settings: Settings) -> Iterator[None]:
    off = settings.model_copy(
        update={"environment": "bench", "benchmark": BenchmarkSettings(security_off=True)}
    )
    benchmark.apply(off)
    try:
        yield
    finally:
        benchmark.apply(settings)


def _events(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


def test_normally_sealed_columns_hold_ciphertext_and_events_are_written(
    db_session: Session, keyring: FileKeyring
) -> None:
    assert not benchmark.security_off()
    _case, child = make_case(db_session, RecordCipher(keyring, db_session), "Ada Lovelace")
    assert b"Ada Lovelace" not in child.name_enc
    before = _events(db_session)
    record_event(db_session, AuditAction.SIGN_IN)
    assert _events(db_session) == before + 1


@pytest.mark.usefixtures("switched_off")
def test_switched_off_columns_documents_and_the_trail_are_left_plain(
    db_session: Session, keyring: FileKeyring, settings: Settings, tmp_path: Path
) -> None:
    cipher = RecordCipher(keyring, db_session)
    _case, child = make_case(db_session, cipher, "Ada Lovelace")
    assert child.name_enc == b"Ada Lovelace"
    assert child.data_key_id is None
    assert cipher.open_text(child, "name_enc") == "Ada Lovelace"

    before = _events(db_session)
    record_event(db_session, AuditAction.SIGN_IN)
    assert _events(db_session) == before

    store = settings.attachments.model_copy(update={"storage_directory": tmp_path})
    pending = begin_attachment(store)
    pending.write(b"%PDF-1.7 a report")
    pending.seal()
    assert pending.path.read_bytes() == b"%PDF-1.7 a report"
    assert b"".join(pending.plaintext()) == b"%PDF-1.7 a report"
