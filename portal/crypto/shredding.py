"""Crypto-shredding: destroying data keys, so everything sealed under them (in the database,
in the document store and in backups once they age out) is unreadable for good. The one way
the portal destroys keys: a withdrawn request's draft documents, and the retention job."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from portal.models.keys import DataKey


def shred_data_keys(session: Session, key_ids: Collection[uuid.UUID], now: datetime) -> int:
    """Destroy the still-live keys among `key_ids`; how many were destroyed now.

    Rows are locked in id order, as `portal keys rewrap` locks them, so the two never
    deadlock; the session's loaded keys see the change.
    """
    if not key_ids:
        return 0
    session.execute(
        sa.select(DataKey.id).where(DataKey.id.in_(key_ids)).order_by(DataKey.id).with_for_update()
    )
    result = session.execute(
        sa.update(DataKey)
        .where(DataKey.id.in_(key_ids), DataKey.wrapped_key.is_not(None))
        .values(wrapped_key=None, shredded_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)
