"""The audit trail: one way to record an event, in the same transaction as the action."""

from portal.audit.actions import AuditAction
from portal.audit.record import SYSTEM, Actor, record_event, record_event_apart

__all__ = ["SYSTEM", "Actor", "AuditAction", "record_event", "record_event_apart"]
