"""A delivery naming a child who has no CMS person id: before it is dead-lettered, the CMS is
asked for the case once more, and the portal's copy brought in step by the case directory's
own rule (portal/cases/directory.py), as the delivery worker, so that a person record the CMS
has made since the social worker's lookup is found and a retry of the dead letter delivers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.orm import Session

from portal.audit import SYSTEM
from portal.cases.directory import refresh_held_case
from portal.connector.adapter import CmsAdapter, CmsFailure
from portal.crypto import Keyring
from portal.crypto.records import RecordCipher

log = logging.getLogger(__name__)


def case_brought_in_step(
    adapter: CmsAdapter, sessions: Callable[[], Session], keyring: Keyring, reference: str
) -> bool:
    """Ask the CMS for the case (no transaction open meanwhile) and bring the portal's copy
    of its children in step, in a transaction of its own: whether that was done. Codes only
    in the log."""
    try:
        found = adapter.find_case(reference)
    except CmsFailure as failure:
        log.warning("could not ask the CMS for a case again: %s", failure.code)
        return False
    if found is None or found.reference != reference:
        return False
    try:
        with sessions() as session, session.begin():
            refresh_held_case(session, RecordCipher(keyring, session), found, SYSTEM)
    except Exception as error:  # a lookup racing this one, an outage: the failure stands
        log.warning("a case was not brought in step with the CMS: %s", type(error).__name__)
        return False
    return True
