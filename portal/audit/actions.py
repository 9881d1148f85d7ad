"""The closed vocabulary of audited actions."""

import enum


class AuditAction(enum.StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SESSION_ENDED_BY_PROVIDER = "session_ended_by_provider"
    LOGOUT_TOKEN_REFUSED = "logout_token_refused"  # noqa: S105 - an action name
    USER_PROVISIONED = "user_provisioned"
    USER_AWAITING_APPROVAL = "user_awaiting_approval"
    USER_APPROVED = "user_approved"
    USER_SUSPENDED = "user_suspended"
    USER_REINSTATED = "user_reinstated"
    ROLES_CHANGED = "roles_changed"
    IDENTITY_PROVIDER_ADDED = "identity_provider_added"
    IDENTITY_PROVIDER_CHANGED = "identity_provider_changed"
    ORGANISATION_CHANGED = "organisation_changed"
    KEYRING_REGISTERED = "keyring_registered"
    DEMO_DATA_SEEDED = "demo_data_seeded"
