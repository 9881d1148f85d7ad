"""The audit trail: one way to record an event, in the same transaction as the action."""

from portal.audit.actions import AuditAction
from portal.audit.record import Actor, record_event

__all__ = ["Actor", "AuditAction", "record_event"]
