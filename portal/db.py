"""The database: one engine per app, and the request boundary: one session, one cipher and one
transaction per request, committed here (the session store alone commits its own rare writes,
portal/auth/sessions.py, before the request's work begins).

A request's work, its audit events included, commits only if the response succeeds; any error
response or exception rolls the whole transaction back. Audit events that must outlive a refused
response (reads of sensitive content, refusals) are queued with
`portal.audit.record_lasting_event`: written in the request's transaction when it commits, in a
transaction of their own when the response is an error. Views never commit.

When the database goes away (a restart, a failover) requests get the "service unavailable"
page (503) and the pool replaces its dead connections; a connection that sat idle through a
quiet spell is checked before use (IDLE_BEFORE_CHECK_SECONDS). No restart is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, has_request_context
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from portal.audit.lasting import LastingEvent, take_lasting_events, write_lasting_events
from portal.crypto.records import RecordCipher
from portal.crypto.runtime import keyring
from portal.sqlite_calendar import register_sqlite_functions

_EXTENSION = "portal.db"


class Database:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)


# A pooled connection idle this long is checked (one round trip) before it is used again: over
# a quiet spell a database restart or failover can end it unnoticed, and the first person along
# would be shown "unavailable" for an outage already over. One in steady use is not checked
# (no round trip per request): if the database goes away under load, the requests it cuts off
# get the unavailable page and the pool replaces every connection at once (tests/faults).
IDLE_BEFORE_CHECK_SECONDS = 30.0


def make_engine(url: str) -> Engine:
    # hide_parameters: a failing statement's values never reach logs or error text.
    options: dict[str, Any] = {"hide_parameters": True}
    if url.startswith("sqlite"):
        options["connect_args"] = {"timeout": 15}  # the busy timeout: how long a writer queues
    else:
        options["connect_args"] = {"connect_timeout": 5}
    engine = sa.create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin_immediate)
    else:
        sa.event.listen(engine, "checkin", _note_idle_since)
        sa.event.listen(engine, "checkout", _check_if_idle_long(engine.dialect))
    return engine


def _note_idle_since(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _check_if_idle_long(dialect: sa.Dialect) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_BEFORE_CHECK_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)  # what pool_pre_ping does at every checkout
        except dialect.loaded_dbapi.Error as error:
            # The pool drops this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError("the pooled connection was closed") from error

    return check


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # pysqlite's own BEGIN comes late (before the first write) and DEFERRED; `begin` below
    # sends the portal's instead.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
    register_sqlite_functions(connection)  # UK months and days (the pilot's figures)


def _sqlite_begin_immediate(connection: Connection) -> None:
    """SQLite (the demo) has one writer at a time. A transaction that read first and wrote
    later (a page's audit event: read the last event number, then insert the next) failed
    when another writer went between ("database is locked" at once, or a duplicate event
    number). Taking the write lock at BEGIN makes writers queue for the busy timeout instead.
    Every transaction takes it, reads too, so the demo's requests run one at a time: a demo's
    handful of people never notice. PostgreSQL needs none of this (its own locks)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _limit_statements(_session: Session, _transaction: Any, connection: Connection) -> None:
    """In a web request on PostgreSQL, each transaction's statements get
    [database] statement_timeout_seconds; a statement cancelled for it is a database error
    like any other (the unavailable page, nothing kept)."""
    if not has_request_context() or connection.dialect.name != "postgresql":
        return
    settings = current_app.config.get("PORTAL_SETTINGS")
    seconds = settings.database.statement_timeout_seconds if settings else 0
    if seconds:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds) * 1000}")


# Every session, whichever sessionmaker made it (the request's, the session store's, a test's).
sa.event.listen(Session, "after_begin", _limit_statements)


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


def cipher() -> RecordCipher:
    """The current request's (or app context's) RecordCipher, next to its session: one per
    unit of work, so each record's data key is unwrapped at most once in it."""
    if "db_cipher" not in g:
        g.db_cipher = RecordCipher(keyring(), session())
    found: RecordCipher = g.db_cipher
    return found


def _end_unit_of_work() -> Session | None:
    g.pop("db_cipher", None)
    db_session: Session | None = g.pop("db_session", None)
    return db_session


def _commit_on_success(response: Response) -> Response:
    lasting = take_lasting_events()
    db_session = _end_unit_of_work()
    try:
        if response.status_code < 400:
            _commit_or_keep_lasting(db_session, lasting)
        else:
            if db_session is not None:
                _discard(db_session)
            _record_apart(lasting)
    except DBAPIError as error:
        # The database went away at the last step. A commit cut off may or may not have
        # landed, so the person is not told it succeeded: they get the unavailable page (in
        # place of this response, keeping its security headers) and look again later.
        if db_session is not None:
            _discard(db_session)
        return unavailable_instead(response, error)
    return response


def _commit_or_keep_lasting(db_session: Session | None, lasting: list[LastingEvent]) -> None:
    """Commit the request's work with its lasting events. Should the commit fail for any
    reason but the database's (a row changed under it, say), the error page follows and the
    lasting events are still written, apart."""
    try:
        _commit(db_session, lasting)
    except DBAPIError:
        raise
    except Exception:
        if db_session is not None:
            _discard(db_session)
        _record_apart(lasting)
        raise


def _commit(db_session: Session | None, lasting: list[LastingEvent]) -> None:
    if db_session is None and not lasting:
        return
    db_session = db_session or database().sessions()
    try:
        write_lasting_events(db_session, lasting)
        db_session.commit()
    finally:
        db_session.close()


def _record_apart(lasting: list[LastingEvent]) -> None:
    """The events that outlive a refused response, in a transaction of their own."""
    if not lasting:
        return
    with database().sessions() as apart:
        write_lasting_events(apart, lasting)
        apart.commit()


def _close_session(_error: BaseException | None) -> None:
    take_lasting_events()  # written by _commit_on_success, or the request never finished
    db_session = _end_unit_of_work()
    if db_session is not None:
        _discard(db_session)


def abandon_request(error: DBAPIError) -> None:
    """After a database error: log it by kind only, drop the request's session (its
    connection may be dead), and show the page as to someone not signed in, since showing
    who is signed in would reload them from the database that just failed. Nothing of the
    request is kept, its queued audit events included: the page was never shown."""
    current_app.logger.error("database error: %s", type(error.orig).__name__)
    take_lasting_events()  # the page they were about was never shown
    db_session = _end_unit_of_work()
    if db_session is not None:
        _discard(db_session)
    login_manager = getattr(current_app, "login_manager", None)
    if login_manager is not None:
        g._login_user = login_manager.anonymous_user()


def _discard(db_session: Session) -> None:
    try:
        db_session.rollback()
    except DBAPIError:
        pass  # the connection is gone, and its transaction with it
    finally:
        db_session.close()


def unavailable_instead(response: Response, error: DBAPIError) -> Response:
    """Turn a response made before the database failed into the unavailable page (503),
    keeping the headers already set on it (the security headers and its CSP nonce)."""
    from portal.errors import render_error

    abandon_request(error)
    page, status = render_error(503)
    response.set_data(page)
    response.status_code = status
    response.mimetype = "text/html"
    response.headers.pop("Location", None)
    return response
