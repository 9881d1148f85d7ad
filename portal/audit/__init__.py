"""The audit trail: one way to record an event, in the same transaction as the action, and one
way to queue an event that stays on the record whatever the response (portal/audit/lasting.py)."""

from portal.audit.actions import AuditAction
from portal.audit.lasting import record_lasting_event
from portal.audit.record import SYSTEM, Actor, record_event

__all__ = [
    "SYSTEM",
    "Actor",
    "AuditAction",
    "record_event",
    "record_lasting_event",
]
