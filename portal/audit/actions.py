"""The closed vocabulary of audited actions."""

import enum


class AuditAction(enum.StrEnum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    KEYRING_REGISTERED = "keyring_registered"
    DEMO_DATA_SEEDED = "demo_data_seeded"
