"""What encryption and the audit trail cost, as /metrics reports it (portal/security_costs.py):
pages that seal, open, encrypt or decrypt a document and append audit events are timed, on
the real app, scraped with its token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.config import Settings
from portal.models import Attachment
from portal.private_files import write_new_private_file
from tests.factories import csrf_token
from tests.integration.test_contribution_documents import PDF, upload
from tests.integration.test_contributions import answer_everything, send
from tests.integration.test_metrics import samples, with_sections
from tests.support.world import World, client_for, issue

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SEAL = "portal_crypto_field_seal_seconds"
OPEN = "portal_crypto_field_open_seconds"
DOCUMENT = "portal_crypto_document_seconds"
APPEND = "portal_audit_append_seconds"


@pytest.fixture
def metered(
    settings: Settings, connection: Connection, tmp_path: Path, token: str
) -> Iterator[Flask]:
    """The app with a metrics token and a document store (no scanner: its time is not the
    portal's), its requests bound to the test's transaction."""
    path = tmp_path / "metrics-token"
    write_new_private_file(path, token.encode())
    app = create_app(
        with_sections(
            settings,
            observability={"metrics_token_file": path},
            attachments={"storage_directory": tmp_path / "files", "scanner": "none"},
        ),
        check_database=False,
    )
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    yield app
    db.database(app).engine.dispose()


@pytest.fixture
def token() -> str:
    return "t" * 48


class Scraper:
    def __init__(self, app: Flask, token: str) -> None:
        self.app = app
        self.token = token
        self.last = self.scrape()

    def scrape(self) -> Samples:
        response = self.app.test_client().get(
            "/metrics", headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response.status_code == 200
        return samples(response.get_data(as_text=True))

    def grown(self) -> dict[str, tuple[float, float]]:
        """Each histogram's (count, sum) growth since the last call, labels added up."""
        now = self.scrape()
        growth: dict[str, tuple[float, float]] = {}
        for name in (SEAL, OPEN, DOCUMENT, APPEND):
            count = _total(now, f"{name}_count") - _total(self.last, f"{name}_count")
            seconds = _total(now, f"{name}_sum") - _total(self.last, f"{name}_sum")
            growth[name] = (count, seconds)
        self.last = now
        return growth

    def by_direction(self, direction: str) -> float:
        key = (f"{DOCUMENT}_count", frozenset({("direction", direction)}))
        return self.scrape().get(key, 0.0)


def _total(figures: Samples, name: str) -> float:
    return sum(value for (sample, _labels), value in figures.items() if sample == name)


def test_pages_that_seal_open_and_audit_are_timed(metered: Flask, world: World, token: str) -> None:
    metrics = Scraper(metered, token)

    reference = issue(metered, world)  # the purpose and children sealed; the issue audited
    issued = metrics.grown()
    assert issued[SEAL][0] >= 1 and issued[SEAL][1] > 0
    assert issued[APPEND][0] >= 1 and issued[APPEND][1] > 0

    teacher = client_for(metered, world.teacher)
    assert teacher.get(f"/inbox/{reference}").status_code == 200
    read = metrics.grown()
    assert read[OPEN][0] >= 1 and read[OPEN][1] > 0  # the purpose, the children's names
    assert read[SEAL][0] == 0
    assert read[APPEND][0] >= 1  # the partner's first read is on the record


def test_a_document_is_timed_as_it_is_encrypted_and_decrypted(
    metered: Flask, world: World, db_session: Session, token: str
) -> None:
    reference = issue(metered, world)
    teacher = client_for(metered, world.teacher)
    metrics = Scraper(metered, token)
    encrypted = metrics.by_direction("encrypt")
    assert upload(teacher, reference, "letter.pdf", PDF).status_code == 302
    assert metrics.by_direction("encrypt") == encrypted + 1

    answer_everything(teacher, reference, [str(child.id) for child in world.case.children])
    assert send(teacher, reference).status_code == 302
    attachment = db_session.scalar(sa.select(Attachment))
    assert attachment is not None
    decrypted = metrics.by_direction("decrypt")
    worker = client_for(metered, world.worker)
    # The original (its safe copy is not made in this test), for a reason on the record.
    original = f"/requests/{reference}/versions/1/files/{attachment.id}/original"
    form = {
        "csrf_token": csrf_token(worker.get(original).get_data(as_text=True)),
        "reason": "other",
    }
    with worker.post(original, data=form) as download:
        assert download.data == PDF
    assert metrics.by_direction("decrypt") == decrypted + 1
    assert metrics.grown()[DOCUMENT][1] > 0
