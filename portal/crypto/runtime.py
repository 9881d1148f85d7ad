"""The app's keyring, loaded once at start-up, and a per-request record cipher."""

from __future__ import annotations

from flask import Flask, current_app, g

from portal import db
from portal.crypto.keyring import Keyring
from portal.crypto.records import RecordCipher

_EXTENSION = "portal.keyring"


def init_app(app: Flask, loaded: Keyring) -> None:
    app.extensions[_EXTENSION] = loaded


def keyring(app: Flask | None = None) -> Keyring:
    loaded: Keyring = (app or current_app).extensions[_EXTENSION]
    return loaded


def record_cipher() -> RecordCipher:
    """The current request's cipher, bound to its database session."""
    if "record_cipher" not in g:
        g.record_cipher = RecordCipher(keyring(), db.session())
    cipher: RecordCipher = g.record_cipher
    return cipher
