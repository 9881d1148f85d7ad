"""Before the delivery worker records that a child the request names has no CMS person id, it
asks the CMS for the case once more: the CMS may have made the person record since the social
worker looked the case up. The portal's copy is brought in step by the case lookup's own rule
(portal/cases/directory.py), and the worker builds the delivery again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import partial

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.audit import SYSTEM
from portal.cases.directory import refresh_held_case
from portal.connector.adapter import CmsAdapter, CmsCase, CmsFailure
from portal.connector.payload import ChildrenWithoutPersonId
from portal.crypto import Keyring
from portal.crypto.records import RecordCipher
from portal.db_outage import DatabaseOutage

log = logging.getLogger(__name__)

# A social worker's lookup of the same case copied a child in the meantime: the refresh is
# tried again later, and finds that copy.
COPIED_CONCURRENTLY = "case_copied_concurrently"


def case_asked_again(
    adapter: CmsAdapter,
    sessions: Callable[[], Session],
    keyring: Keyring,
    outage: DatabaseOutage,
    failure: ChildrenWithoutPersonId,
    delivery_id: uuid.UUID,
) -> CmsFailure | None:
    """None once the portal's copy of the case is in step with what the CMS says now (the
    delivery is to be built again); otherwise the failure to record. `failure` stands when the
    CMS refused the question for good or no longer has the case; a CMS that could not answer
    just now is a transient failure, tried again later. A CMS answer naming one person twice, or
    a social worker's lookup of the same case changing it meanwhile, is a transient failure of
    its own: tried again later, never a dead letter for a child who may have a person id. A
    database outage is waited out, like every other step of the worker's; told to stop
    meanwhile, the outage error is raised."""
    try:
        found = adapter.find_case(failure.case_reference)
    except CmsFailure as asking:
        log.warning("delivery %s: the CMS was not asked for the case: %s", delivery_id, asking)
        # An outage of the CMS says nothing about the child: try again later, as for any
        # other transient failure. Only a refusal that never gets better stands as the child's.
        return failure if asking.permanent else asking
    if found is None or found.reference != failure.case_reference:
        return failure
    try:
        outage.retrying(partial(_brought_in_step, sessions, keyring, found))
    except CmsFailure as refreshing:
        log.warning("delivery %s: case not brought in step: %s", delivery_id, refreshing)
        return refreshing
    return None


def _brought_in_step(sessions: Callable[[], Session], keyring: Keyring, found: CmsCase) -> None:
    # Only background processes end transactions: this one is the worker's, rolled back whole
    # when it clashes with a lookup's.
    try:
        with sessions() as session, session.begin():
            refresh_held_case(session, RecordCipher(keyring, session), found, SYSTEM)
    except IntegrityError:
        raise CmsFailure(
            COPIED_CONCURRENTLY, permanent=False, reason=IntegrityError.__name__
        ) from None
