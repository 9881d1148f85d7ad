"""Finding a case by its CMS reference.

`CmsCaseDirectory` asks the CMS through the connector and keeps the portal's own copy of the
case (its team and its children's names and dates of birth, encrypted) in step with what the
CMS holds. `LocalCaseDirectory` answers from the cases the portal already holds, for a portal
run with no CMS (`[cms] adapter = "none"`, never in production).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import Actor, AuditAction, record_event
from portal.connector.adapter import CmsAdapter, CmsCase, CmsFailure
from portal.crypto.records import RecordCipher
from portal.models import Case, Child, Team

CMS_REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{1,63}$"


@dataclass(frozen=True)
class ChildSummary:
    id: uuid.UUID
    name: str
    date_of_birth: date
    # What ties the portal's child to the CMS's person and to partners' records; None where
    # the CMS holds none (or held one that failed its check digit).
    cms_person_id: str | None = None
    nhs_number: str | None = None
    upn: str | None = None


@dataclass(frozen=True)
class CaseSummary:
    id: uuid.UUID
    reference: str
    team_id: uuid.UUID
    team_name: str
    children: tuple[ChildSummary, ...]


class CaseLookupUnavailable(Exception):
    """The CMS could not be asked just now; the message is safe to show."""


class CaseDirectory(Protocol):
    def find(self, reference: str) -> CaseSummary | None:
        """The case with this CMS reference and its children, or None.
        Raises CaseLookupUnavailable when the CMS does not answer."""


class LocalCaseDirectory:
    def __init__(self, session: Session, cipher: RecordCipher) -> None:
        self.session = session
        self.cipher = cipher

    def find(self, reference: str) -> CaseSummary | None:
        case = self.session.scalar(sa.select(Case).where(Case.cms_reference == reference.strip()))
        return None if case is None else summary(self.cipher, case, case.children)


def summary(cipher: RecordCipher, case: Case, children: list[Child]) -> CaseSummary:
    return CaseSummary(
        case.id,
        case.cms_reference,
        case.team_id,
        case.team.name,
        tuple(
            ChildSummary(
                child.id,
                cipher.open_text(child, "name_enc") or "",
                date.fromisoformat(cipher.open_text(child, "date_of_birth_enc") or ""),
                cms_person_id=child.cms_person_id,
                nhs_number=cipher.open_text(child, "nhs_number_enc"),
                upn=cipher.open_text(child, "upn_enc"),
            )
            for child in children
        ),
    )


@dataclass(frozen=True)
class Asker:
    """Who is looking a case up: their council, which teams' cases they may open, and how the
    audit trail names them. A case they may not open is never copied into the portal."""

    council_id: uuid.UUID
    may_work_on: Callable[[uuid.UUID], bool]
    actor: Actor


class CmsCaseDirectory:
    def __init__(
        self, session: Session, cipher: RecordCipher, adapter: CmsAdapter, asker: Asker
    ) -> None:
        self.session = session
        self.cipher = cipher
        self.adapter = adapter
        self.asker = asker

    def find(self, reference: str) -> CaseSummary | None:
        reference = reference.strip()
        try:
            found = self.adapter.find_case(reference)
            if found is not None:
                for detail in found.children:
                    date.fromisoformat(detail.date_of_birth)
        except (CmsFailure, ValueError) as failure:
            raise CaseLookupUnavailable(
                "The case management system is not answering just now: try again in a few minutes."
            ) from failure
        if found is None or found.reference != reference:
            return None
        team = self.session.scalar(
            sa.select(Team).where(
                Team.name == found.team, Team.organisation_id == self.asker.council_id
            )
        )
        if team is None or not self.asker.may_work_on(team.id):
            return None  # a team the portal does not know, or not theirs: as if not there
        try:
            with self.session.begin_nested():
                case, children = self._copy(found, team)
        except IntegrityError:
            # Someone else's lookup of the same case copied it first: bring that copy in step.
            case, children = self._copy(found, team)
        return summary(self.cipher, case, children)

    def _copy(self, found: CmsCase, team: Team) -> tuple[Case, list[Child]]:
        """Bring the portal's copy of the case in step with the CMS, recording any change.
        Children the CMS no longer lists stay on earlier requests but are not offered again."""
        case = self.session.scalar(sa.select(Case).where(Case.cms_reference == found.reference))
        created = case is None
        if case is None:
            case = Case(cms_reference=found.reference, team=team)
            self.session.add(case)
        moved = not created and case.team_id != team.id
        changed = moved
        case.team = team
        known = {child.cms_person_id: child for child in case.children}
        position = max((child.position for child in case.children), default=-1)
        children: list[Child] = []
        for detail in found.children:
            child = known.get(detail.person_id)
            if child is None:
                position += 1
                child = Child(case=case, position=position, cms_person_id=detail.person_id)
                self.session.add(child)
            elif (
                self.cipher.open_text(child, "name_enc") == detail.name
                and self.cipher.open_text(child, "date_of_birth_enc") == detail.date_of_birth
            ):
                children.append(child)
                continue
            self.cipher.seal_text(child, "name_enc", detail.name)
            self.cipher.seal_text(child, "date_of_birth_enc", detail.date_of_birth)
            children.append(child)
            changed = True
        if created or changed:
            self.session.flush()
            record_event(
                self.session,
                AuditAction.CASE_COPIED_FROM_CMS,
                actor=self.asker.actor,
                object_type="case",
                object_id=found.reference,
                case_reference=found.reference,
                details={
                    "created": created,
                    "children": len(found.children),
                    "team_changed": moved,
                    "team_id": str(team.id),
                },
            )
        return case, children
