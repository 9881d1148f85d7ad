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
from sqlalchemy.orm import Session

from portal.connector.adapter import CmsAdapter
from portal.lifecycle import OutboxStatus
from portal.models import Case, Contribution, DelegationRequest, OutboxMessage


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
    rows = {
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
    result = Reconciliation()
    held: set[str] = set()
    for record in adapter.delivered_records():
        result.cms_records += 1
        held.add(record.idempotency_key)
        row = rows.get(record.idempotency_key)
        if row is None:
            kind = "unknown_to_portal"
        elif row.status != OutboxStatus.DELIVERED:
            kind = "not_recorded_by_portal"
        elif row.cms_record_id != record.record_id:
            kind = "record_id_differs"
        elif row.cms_reference != record.case_reference:
            kind = "case_differs"
        else:
            continue
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
        # A listing may leave records out; ask about each one it did not show before saying so.
        if key in held:
            continue
        if row.cms_record_id and adapter.delivery_status(row.cms_record_id) is not None:
            continue
        result.differences.append(
            Difference("missing_from_cms", key, row.status.value, row.cms_record_id, None)
        )
    return result
