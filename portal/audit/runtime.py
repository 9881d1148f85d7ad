"""The app's checkpoint signer and trusted public keys, loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app

from portal.audit.signing import CheckpointSigner, PublicKey, SigningKeyError, load_public_keys
from portal.config import ConfigError, Settings

_EXTENSION = "portal.audit_keys"


@dataclass(frozen=True)
class AuditKeys:
    signer: CheckpointSigner | None
    trusted: tuple[PublicKey, ...]
    # The log's name in its checkpoints, and their signatures' key name.
    origin: str


def load_audit_keys(settings: Settings) -> AuditKeys:
    try:
        path = settings.audit.signing_key_file
        signer = CheckpointSigner.load(path) if path is not None else None
        retired = load_public_keys(settings.audit.trusted_public_key_files)
    except SigningKeyError as error:
        raise ConfigError(str(error)) from None
    trusted = ([signer.public] if signer else []) + retired
    return AuditKeys(signer, tuple(trusted), log_origin(settings))


def log_origin(settings: Settings) -> str:
    """`[audit] log_origin`, or "<the service's host>/audit"."""
    if settings.audit.log_origin:
        return settings.audit.log_origin
    return f"{urlsplit(settings.service.base_url).netloc or 'localhost'}/audit"


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[_EXTENSION] = load_audit_keys(settings)


def audit_keys(app: Flask | None = None) -> AuditKeys:
    keys: AuditKeys = (app or current_app).extensions[_EXTENSION]
    return keys
