"""The app's keyring: loaded at start-up, and reloaded by each process when its file changes
(a key rotation or retirement), after checking the new file against the database."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from portal.crypto.keyring import FileKeyring, Keyring
from portal.crypto.reloading import ReloadCheck, ReloadingKeyring

_EXTENSION = "portal.keyring"


def init_app(app: Flask, loaded: Keyring, path: Path | None = None) -> None:
    """Use `loaded`; given the file it came from, follow that file's changes."""
    if path is not None and isinstance(loaded, FileKeyring):
        loaded = ReloadingKeyring(path, loaded, _reload_check(app))
    app.extensions[_EXTENSION] = loaded


def keyring(app: Flask | None = None) -> Keyring:
    loaded: Keyring = (app or current_app).extensions[_EXTENSION]
    return loaded


def _reload_check(app: Flask) -> ReloadCheck:
    def check(old: FileKeyring, new: FileKeyring) -> None:
        from portal import db
        from portal.crypto.keycheck import check_reload

        with db.database(app).sessions() as db_session:
            check_reload(db_session, old, new)

    return check
