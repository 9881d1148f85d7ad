"""The database: one engine per app, one session and one transaction per request.

A request's work, its audit events included, commits only if the response succeeds; any error
response or exception rolls the whole transaction back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

_EXTENSION = "portal.db"


class Database:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)


def make_engine(url: str) -> Engine:
    # hide_parameters: a failing statement's values never reach logs or error text.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}
    else:
        options["connect_args"] = {"connect_timeout": 5}
    engine = sa.create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def init_app(app: Flask, url: str) -> None:
    app.extensions[_EXTENSION] = Database(url)
    app.after_request(_commit_on_success)
    app.teardown_request(_close_session)


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions[_EXTENSION]
    return db


def session() -> Session:
    """The current request's (or app context's) session, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessions()
    db_session: Session = g.db_session
    return db_session


def _commit_on_success(response: Response) -> Response:
    db_session: Session | None = g.pop("db_session", None)
    if db_session is None:
        return response
    try:
        if response.status_code < 400:
            db_session.commit()
        else:
            db_session.rollback()
    finally:
        db_session.close()
    return response


def _close_session(_error: BaseException | None) -> None:
    db_session: Session | None = g.pop("db_session", None)
    if db_session is not None:
        db_session.rollback()
        db_session.close()
