"""Signing in through each organisation's own OpenID Connect provider."""

from __future__ import annotations

from flask import Flask, current_app

from portal.auth.oidc.discovery import ProviderDirectory
from portal.config import Settings

_EXTENSION = "portal.oidc"


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions[_EXTENSION] = ProviderDirectory(settings.auth.provider_timeout_seconds)


def directory(app: Flask | None = None) -> ProviderDirectory:
    found: ProviderDirectory = (app or current_app).extensions[_EXTENSION]
    return found
