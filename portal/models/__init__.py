"""The data model. Capabilities reach it through their own service and data functions."""

from portal.models.audit import (
    AuditCheckpoint,
    AuditEvent,
    AuditLeaf,
    AuditOutcome,
    AuditSequencerState,
    AuditTreeHead,
    AuditTreeNode,
    AuditWitness,
    AuditWitnessRecord,
)
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
from portal.models.onboarding import (
    ChangeKind,
    ChangeStatus,
    ChecklistItem,
    ChecklistRecord,
    OrganisationChange,
    SharingAgreement,
)
from portal.models.organisations import (
    ClientAuthMethod,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    OrganisationStage,
    OrganisationStatus,
    Team,
)
from portal.models.outbox import OutboxMessage
from portal.models.pilot import (
    Feedback,
    OfflineAnswer,
    OfflineChannel,
    RequestOpening,
    Satisfaction,
)
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
    "AuditLeaf",
    "AuditOutcome",
    "AuditSequencerState",
    "AuditTreeHead",
    "AuditTreeNode",
    "AuditWitness",
    "AuditWitnessRecord",
    "Base",
    "Case",
    "ChangeKind",
    "ChangeStatus",
    "ChecklistItem",
    "ChecklistRecord",
    "Child",
    "ChildConfirmation",
    "ChildKnown",
    "ClientAuthMethod",
    "Contribution",
    "DataKey",
    "DelegationRequest",
    "Feedback",
    "IdentityProvider",
    "KeyCheck",
    "LogoutTokenUse",
    "MatchedOn",
    "OfflineAnswer",
    "OfflineChannel",
    "Organisation",
    "OrganisationChange",
    "OrganisationKind",
    "OrganisationStage",
    "OrganisationStatus",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "OutboxMessage",
    "RequestOpening",
    "Review",
    "ReviewDecision",
    "Role",
    "RoleAssignment",
    "RoleSource",
    "SafeCopyStatus",
    "Satisfaction",
    "ScanStatus",
    "SharingAgreement",
    "Team",
    "User",
    "UserStatus",
    "WebSession",
    "request_children",
]
