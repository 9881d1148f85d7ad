"""A council team, a school and a case with its children as the portal holds them, and an
accepted contribution about the children waiting in the outbox: per-child answers keyed
`<question>:<child id>` as the partner's pages store them, a document given for one child,
and the partner's confirmation of each child. Written straight into the database (the pages'
own path to the outbox is tested with the review tests), committed."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from loopback.cms import ReferenceCms
from loopback.outbox import Parties, accepted_contribution, outbox_message, store_safe_copy
from portal.attachments import NoScanner, store_upload
from portal.config import Settings
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.disarm import make_safe
from portal.models import (
    Case,
    Child,
    ChildConfirmation,
    ChildKnown,
    MatchedOn,
    OrganisationKind,
    OutboxMessage,
    Role,
    Team,
    User,
)
from portal.settings import AttachmentSettings, DisarmSettings
from tests.conftest import test_settings
from tests.factories import make_user
from tests.support.world import organisation

CHILD_REPORT = b"Attendance and welfare notes kept by the school for one child.\n"


@dataclass(frozen=True)
class Kid:
    person_id: str | None
    name: str
    date_of_birth: str


class Family:
    """The council's team (named as the CMS names it), a social worker, a school and its lead,
    and the portal's copy of one case with its children."""

    def __init__(
        self,
        session: Session,
        keyring: FileKeyring,
        files: AttachmentSettings,
        *,
        reference: str | None,
        team: str,
        children: tuple[Kid, ...] = (),
    ) -> None:
        """With no reference, no case yet: the social worker looks it up (`take_case`)."""
        self.session = session
        self.keyring = keyring
        self.files = files
        council = organisation(session, "Test Council", OrganisationKind.COUNCIL, False)
        self.team = Team(organisation=council, name=team)
        session.add(self.team)
        session.flush()
        self.council = council
        self.worker = make_user(session, council, Role.SOCIAL_WORKER, team=self.team)
        self.school = organisation(session, "Ashby Lane Primary", OrganisationKind.SCHOOL, True)
        self.lead = make_user(session, self.school, Role.PARTNER_LEAD)
        self.case = Case(cms_reference=reference or "", team=self.team)
        if reference is not None:
            self._add_case(reference, children)
        session.commit()

    def _add_case(self, reference: str, children: tuple[Kid, ...]) -> None:
        self.case = Case(
            cms_reference=reference, team=self.team, allocated_worker_id=self.worker.id
        )
        self.session.add(self.case)
        cipher = RecordCipher(self.keyring, self.session)
        for position, kid in enumerate(children):
            child = Child(case=self.case, position=position, cms_person_id=kid.person_id)
            cipher.seal_text(child, "name_enc", kid.name)
            cipher.seal_text(child, "date_of_birth_enc", kid.date_of_birth)
            self.session.add(child)

    def take_case(self, reference: str) -> Case:
        """The case as a lookup copied it into the portal."""
        found = self.session.scalar(sa.select(Case).where(Case.cms_reference == reference))
        assert found is not None, f"the portal holds no case {reference}"  # noqa: S101
        self.case = found
        return found

    def admin(self) -> User:
        admin = make_user(self.session, self.council, Role.PORTAL_ADMIN)
        self.session.commit()
        return admin

    def accepted_about_the_children(self) -> OutboxMessage:
        """An accepted contribution naming every child on the case: a case-level answer, two
        answers per child, a document for the first child, and the school's confirmation of
        each (the first known on its UPN, the others not known)."""
        session = self.session
        cipher = RecordCipher(self.keyring, session)
        parties = Parties(self.case.id, self.school.id, self.worker.id, self.lead.id)
        contribution = accepted_contribution(session, cipher, parties, datetime.now(UTC))
        request = contribution.request
        children = list(self.case.children)
        request.children = children
        answers: dict[str, object] = {"attendance-overall": "91%"}
        for number, child in enumerate(children):
            answers[f"known-to-school:{child.id}"] = "yes" if number == 0 else "no"
            answers[f"wellbeing:{child.id}"] = f"Notes about child {number + 1}"
        cipher.seal_json(contribution, "answers_enc", answers)
        session.flush()
        report = store_upload(
            io.BytesIO(CHILD_REPORT),
            filename="child-report.txt",
            answer_key=f"child-report:{children[0].id}",
            contribution=contribution,
            uploader_id=self.lead.id,
            session=session,
            cipher=cipher,
            keyring=self.keyring,
            settings=self.files,
            scanner=NoScanner(),
        )
        safe = make_safe(CHILD_REPORT, report.content_type, DisarmSettings())
        store_safe_copy(report, safe, self.keyring, self.files)
        for number, child in enumerate(children):
            known = number == 0
            session.add(
                ChildConfirmation(
                    request_id=request.id,
                    child_id=child.id,
                    answer=ChildKnown.KNOWN if known else ChildKnown.NOT_KNOWN,
                    matched_on=MatchedOn.UPN if known else None,
                    confirmed_by_id=self.lead.id,
                )
            )
        message = outbox_message(contribution)
        session.add(message)
        session.commit()
        return message

    def child_ids(self) -> list[uuid.UUID]:
        return [child.id for child in self.case.children]


@contextmanager
def own_reference_cms(tmp_path: Path) -> Iterator[ReferenceCms]:
    """A reference CMS of one test's own: some tests change what it holds."""
    directory = tmp_path / "cms"
    directory.mkdir()
    running = ReferenceCms(directory).start()
    try:
        yield running
    finally:
        running.stop()


def settings_with(
    engine: Engine, keyring_path: Path, audit_key_path: Path, cms: ReferenceCms, tmp_path: Path
) -> Settings:
    """The portal's settings for a test delivering to `cms` through the reference adapter."""
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        attachments={"storage_directory": str(tmp_path / "files"), "scanner": "none"},
        cms=cms.section(),
    )
