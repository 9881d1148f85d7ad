"""Accepted contributions waiting in the outbox, a reference CMS process and delivery worker
processes: the real parts the connector's fault tests run against.

The contributions are written straight into a committed PostgreSQL database (their content
encrypted with the test keyring, documents in the real encrypted file store), because
hundreds of them through the pages would only slow the tests down; the pages' own path to
the outbox is tested with the review tests.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from loopback.cms import CMS_CASE, CMS_CLIENT_ID, ReferenceCms
from loopback.outbox import Parties, accepted_contribution, outbox_message
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    Case,
    Child,
    OrganisationKind,
    Role,
    Team,
)
from portal.settings import AttachmentSettings
from tests.conftest import TEST_SECRET_KEY
from tests.factories import make_user
from tests.support.world import organisation

CMS_TEAM = "Children in Need Team East"


def cms_body(reference: str = "DR-OTHER01") -> dict[str, Any]:
    return {
        "request_reference": reference,
        "version": 1,
        "partner_organisation": "Somewhere else",
        "submitted_at": "2026-11-20T10:00:00+00:00",
        "form_template": "school-contribution",
        "form_template_version": 1,
        "answers": {"note": "sent by hand"},
        "documents": [],
    }


def worker_environment(
    database_url: str, keyring_path: Path, files: Path, cms: ReferenceCms, **cms_settings: Any
) -> dict[str, str]:
    """What a `portal worker` process needs: the test settings pointed at this database, this
    keyring, this file store and this CMS, with short waits."""
    values: dict[str, Any] = {
        "retry_base_seconds": 0.2,
        "retry_ceiling_seconds": 2,
        "lease_seconds": 3,
        "poll_seconds": 0.2,
        "timeout_seconds": 20,
    } | cms_settings
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    environment |= {
        "PORTAL_ENV": "test",
        "PORTAL_DATABASE__URL": database_url,
        "PORTAL_KEYRING__PATH": str(keyring_path),
        "PORTAL_SECURITY__SECRET_KEY": TEST_SECRET_KEY,
        "PORTAL_ATTACHMENTS__STORAGE_DIRECTORY": str(files),
        "PORTAL_ATTACHMENTS__SCANNER": "none",
        "PORTAL_CMS__ADAPTER": "reference",
        "PORTAL_CMS__BASE_URL": cms.url,
        "PORTAL_CMS__CLIENT_ID": CMS_CLIENT_ID,
        "PORTAL_CMS__CLIENT_SECRET_FILE": str(cms.secret_file),
    }
    environment |= {f"PORTAL_CMS__{name.upper()}": str(value) for name, value in values.items()}
    return environment


class Outbox:
    """A council, a school and the CMS's case, and a way to add accepted contributions."""

    def __init__(self, session: Session, keyring: FileKeyring, files: Path) -> None:
        self.session = session
        self.keyring = keyring
        self.files = AttachmentSettings(storage_directory=files, scanner="none")
        council = organisation(session, "Test Council", OrganisationKind.COUNCIL, False)
        self.team = Team(organisation=council, name=CMS_TEAM)
        session.add(self.team)
        session.flush()
        self.worker = make_user(session, council, Role.SOCIAL_WORKER, team=self.team)
        self.school = organisation(session, "Ashby Lane Primary", OrganisationKind.SCHOOL, True)
        self.lead = make_user(session, self.school, Role.PARTNER_LEAD)
        self.case = Case(cms_reference=CMS_CASE, team=self.team, allocated_worker_id=self.worker.id)
        session.add(self.case)
        cipher = RecordCipher(keyring, session)
        for position, (person, name, born) in enumerate(
            (
                ("P-100234-1", "Amelia Hart", "2015-03-14"),
                ("P-100234-2", "Oliver Hart", "2017-09-02"),
            )
        ):
            child = Child(case=self.case, position=position, cms_person_id=person)
            cipher.seal_text(child, "name_enc", name)
            cipher.seal_text(child, "date_of_birth_enc", born)
            session.add(child)
        session.commit()

    def accepted(self, count: int, *, documents: int = 0) -> list[uuid.UUID]:
        """`count` accepted contributions, each with its outbox row; returns the rows' ids."""
        cipher = RecordCipher(self.keyring, self.session)
        now = datetime.now(UTC)
        ids = []
        parties = Parties(self.case.id, self.school.id, self.worker.id, self.lead.id)
        for _ in range(count):
            contribution = accepted_contribution(
                self.session,
                cipher,
                parties,
                now,
                documents=documents,
                keyring=self.keyring,
                files=self.files,
            )
            self.session.flush()
            message = outbox_message(contribution)
            self.session.add(message)
            self.session.flush()
            ids.append(message.id)
        self.session.commit()
        return ids
