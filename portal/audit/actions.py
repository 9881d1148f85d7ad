"""The closed vocabulary of audited actions."""

import enum


class AuditAction(enum.StrEnum):
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    ACCESS_DENIED = "access_denied"
    KEYRING_REGISTERED = "keyring_registered"
    DEMO_DATA_SEEDED = "demo_data_seeded"
