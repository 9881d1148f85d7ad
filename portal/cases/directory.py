"""Finding a case by its CMS reference.

`CaseDirectory` is the interface the CMS connector's case lookup will implement. Until it
lands, `LocalCaseDirectory` answers from the cases the portal already holds (the demo's, or
those seeded from the CMS), behind the same interface.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.crypto.records import RecordCipher
from portal.models import Case

CMS_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$"


@dataclass(frozen=True)
class ChildSummary:
    id: uuid.UUID
    name: str
    date_of_birth: date


@dataclass(frozen=True)
class CaseSummary:
    id: uuid.UUID
    reference: str
    team_id: uuid.UUID
    team_name: str
    children: tuple[ChildSummary, ...]


class CaseDirectory(Protocol):
    def find(self, reference: str) -> CaseSummary | None:
        """The case with this CMS reference and its children, or None."""


class LocalCaseDirectory:
    def __init__(self, session: Session, cipher: RecordCipher) -> None:
        self.session = session
        self.cipher = cipher

    def find(self, reference: str) -> CaseSummary | None:
        case = self.session.scalar(sa.select(Case).where(Case.cms_reference == reference.strip()))
        if case is None:
            return None
        children = tuple(
            ChildSummary(
                child.id,
                self.cipher.open_text(child, "name_enc") or "",
                date.fromisoformat(self.cipher.open_text(child, "date_of_birth_enc") or ""),
            )
            for child in case.children
        )
        return CaseSummary(case.id, case.cms_reference, case.team_id, case.team.name, children)
