"""The data model. Capabilities reach it through their own service and data functions."""

from portal.models.audit import AuditCheckpoint, AuditEvent, AuditOutcome
from portal.models.base import Base
from portal.models.cases import Case, Child
from portal.models.contributions import (
    Attachment,
    Contribution,
    Review,
    ReviewDecision,
    SafeCopyStatus,
    ScanStatus,
)
from portal.models.keys import DataKey, KeyCheck
from portal.models.notifications import Notification, NotificationKind, NotificationStatus
from portal.models.organisations import (
    ClientAuthMethod,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    Team,
)
from portal.models.outbox import OutboxMessage
from portal.models.requests import (
    ChildConfirmation,
    ChildKnown,
    DelegationRequest,
    MatchedOn,
    request_children,
)
from portal.models.sessions import LogoutTokenUse, WebSession
from portal.models.users import Role, RoleAssignment, RoleSource, User, UserStatus

__all__ = [
    "Attachment",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditOutcome",
    "Base",
    "Case",
    "Child",
    "ChildConfirmation",
    "ChildKnown",
    "ClientAuthMethod",
    "Contribution",
    "DataKey",
    "DelegationRequest",
    "IdentityProvider",
    "KeyCheck",
    "LogoutTokenUse",
    "MatchedOn",
    "Organisation",
    "OrganisationKind",
    "OrganisationStatus",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "OutboxMessage",
    "Review",
    "ReviewDecision",
    "Role",
    "RoleAssignment",
    "RoleSource",
    "SafeCopyStatus",
    "ScanStatus",
    "Team",
    "User",
    "UserStatus",
    "WebSession",
    "request_children",
]
