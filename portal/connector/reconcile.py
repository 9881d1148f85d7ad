"""Reconciliation: what the portal believes it delivered against what the CMS holds.

Every difference is reported, by kind:
- missing_from_cms: the portal recorded a delivery the CMS no longer holds;
- record_id_differs: the CMS holds the key under another record id than the portal recorded;
- case_differs: the CMS filed the record on another case than the contribution's;
- not_recorded_by_portal: the CMS holds a record for a delivery the portal has not recorded
  as delivered (a worker stopped between the two; its next attempt records it);
- unknown_to_portal: the CMS holds a record under a key the portal never queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from portal.connector.adapter import CmsAdapter, CmsRecord
from portal.lifecycle import OutboxStatus
from portal.models import Case, Contribution, DelegationRequest, OutboxMessage

# idempotency key, status, CMS record id, case reference
PortalDelivery = Row[str, OutboxStatus, str | None, str]


@dataclass(frozen=True)
class Difference:
    kind: str
    idempotency_key: str
    portal_status: str | None
    portal_record_id: str | None
    cms_record_id: str | None


@dataclass
class Reconciliation:
    portal_deliveries: int = 0
    cms_records: int = 0
    differences: list[Difference] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for difference in self.differences if difference.kind == kind)


def reconcile(session: Session, adapter: CmsAdapter) -> Reconciliation:
    rows = _portal_deliveries(session)
    result = Reconciliation()
    held: set[str] = set()
    for record in adapter.delivered_records():
        result.cms_records += 1
        held.add(record.idempotency_key)
        row = rows.get(record.idempotency_key)
        kind = _difference_in(row, record)
        if kind is not None:
            result.differences.append(
                Difference(
                    kind,
                    record.idempotency_key,
                    row.status.value if row else None,
                    row.cms_record_id if row else None,
                    record.record_id,
                )
            )
    for key, row in rows.items():
        if row.status != OutboxStatus.DELIVERED:
            continue
        result.portal_deliveries += 1
        if key not in held and not _held_by_cms(adapter, row.cms_record_id):
            result.differences.append(
                Difference("missing_from_cms", key, row.status.value, row.cms_record_id, None)
            )
    return result


def _portal_deliveries(
    session: Session,
) -> dict[str, PortalDelivery]:
    """Every delivery the portal queued, by idempotency key, with its status and case."""
    return {
        row.idempotency_key: row
        for row in session.execute(
            sa.select(
                OutboxMessage.idempotency_key,
                OutboxMessage.status,
                OutboxMessage.cms_record_id,
                Case.cms_reference,
            )
            .join(Contribution, Contribution.id == OutboxMessage.contribution_id)
            .join(DelegationRequest, DelegationRequest.id == Contribution.request_id)
            .join(Case, Case.id == DelegationRequest.case_id)
        )
    }


def _difference_in(row: PortalDelivery | None, record: CmsRecord) -> str | None:
    """How a record the CMS holds differs from what the portal recorded, if it does."""
    if row is None:
        return "unknown_to_portal"
    if row.status != OutboxStatus.DELIVERED:
        return "not_recorded_by_portal"
    if row.cms_record_id != record.record_id:
        return "record_id_differs"
    if row.cms_reference != record.case_reference:
        return "case_differs"
    return None


def _held_by_cms(adapter: CmsAdapter, record_id: str | None) -> bool:
    """A listing may leave records out: ask about one it did not show before saying so."""
    return bool(record_id) and adapter.delivery_status(record_id or "") is not None
