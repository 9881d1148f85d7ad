"""The app's keyring, loaded once at start-up."""

from __future__ import annotations

from flask import Flask, current_app

from portal.crypto.keyring import Keyring

_EXTENSION = "portal.keyring"


def init_app(app: Flask, loaded: Keyring) -> None:
    app.extensions[_EXTENSION] = loaded


def keyring(app: Flask | None = None) -> Keyring:
    loaded: Keyring = (app or current_app).extensions[_EXTENSION]
    return loaded
