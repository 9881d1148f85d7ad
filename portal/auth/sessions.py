"""Server-side sessions: the cookie carries a random token, the database holds the session.

Signing out, a provider's back-channel logout, suspension or a timeout deletes the row, so a
cookie captured earlier is worth nothing afterwards. The row is keyed by the SHA-256 of the
token. Sign-in always starts a new row (a new session id); nothing from before carries over.

Timeouts: a session ends after `idle_timeout_minutes` without a request, and in any case
`absolute_timeout_hours` after sign-in. `last_seen_at` is written at most once a minute, so
a busy page costs no extra write per request; the idle timeout is therefore exact to a minute.
Pages warn a signed-in person before the idle timeout and let them stay signed in (WCAG 2.2
success criterion 2.2.1): `session_timeout` gives the page its numbers, `touch` the extension.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, contains_eager
from werkzeug.datastructures import CallbackDict
from werkzeug.exceptions import ServiceUnavailable

from portal import db
from portal.config import Settings
from portal.models.sessions import WebSession
from portal.models.users import User
from portal.uk_time import UK, uk_time_of_day

# How often an active session's last-seen time is written.
TOUCH_INTERVAL = timedelta(minutes=1)
# How long before the idle timeout a page warns. WCAG 2.2.1 asks for at least 20 seconds to
# act; GOV.UK services' timeout warnings commonly give two minutes, and half of a shorter idle
# time (one minute at the least) still leaves more than 20 seconds.
WARNING_LEAD = timedelta(minutes=2)


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The session data of one browser, with what the store needs to know about its row."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        row: WebSession | None = None,
        ended: str | None = None,
        unavailable: bool = False,
    ) -> None:
        def on_update(_self: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.token = token
        self.user_id: uuid.UUID | None = row.user_id if row else None
        self.created_at: datetime | None = row.created_at if row else None
        self.last_seen_at: datetime | None = row.last_seen_at if row else None
        self.expires_at: datetime | None = row.expires_at if row else None
        self.identity_provider_id: uuid.UUID | None = row.identity_provider_id if row else None
        # The signed-in person as read with the row, in the request's database session (which
        # holds its objects only while something else does): for load_user.
        self.person: User | None = None
        # Why the browser's previous session ended on this request: "idle" or "absolute".
        self.ended = ended
        self.modified = False
        # Set by `rotate` at sign-in: the new row is already written in the request's
        # transaction; the cookie must carry the new token.
        self.rotated = False
        self.discarded = False
        # The store could not be read (the database is down): the request is answered 503.
        self.unavailable = unavailable


def absolute_lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.auth.absolute_timeout_hours)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class DatabaseSessionInterface(SessionInterface):
    def __init__(self, settings: Settings) -> None:
        self.idle = timedelta(minutes=settings.auth.idle_timeout_minutes)
        self.absolute = timedelta(hours=settings.auth.absolute_timeout_hours)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 100 or not token.isascii():  # not one the portal issued
            return ServerSession()
        # Flask opens the session before any error handler can answer: a failure here would
        # be a bare 500, so it is noted and `_refuse_without_store` answers 503 instead.
        try:
            return self._open(token)
        except DBAPIError as error:
            db.abandon_request(error)
            return ServerSession(unavailable=True)

    def _open(self, token: str) -> ServerSession:
        """Read the session, with its person, their organisation and roles, in one statement
        in the request's own transaction (load_user then finds the person already loaded).
        Ending or touching the row (rare) is committed at once, before the request's own work
        begins, so it is kept even when the request fails; never from a second connection,
        which on SQLite would wait for the lock this transaction holds."""
        store = db.session()
        found = _session_and_person(store, token_hash(token))
        _give_back_sqlite_lock(store)
        if found is None:
            return ServerSession()
        row, person = found
        now = datetime.now(UTC)
        ended = self._ended(row, now)
        if ended:
            store.execute(sa.delete(WebSession).where(WebSession.token_hash == row.token_hash))
            store.commit()
            return ServerSession(ended=ended)
        opened = ServerSession(dict(row.data), token=token, row=row)
        opened.person = person
        if now - row.last_seen_at >= TOUCH_INTERVAL:
            store.execute(
                sa.update(WebSession)
                .where(WebSession.token_hash == row.token_hash)
                .values(last_seen_at=now)
            )
            store.commit()
            opened.last_seen_at = now
        return opened

    def _ended(self, row: WebSession, now: datetime) -> str | None:
        if now >= row.expires_at:
            return "absolute"
        if now - row.last_seen_at >= self.idle:
            return "idle"
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession):
            raise TypeError("the session interface saves only its own sessions")
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        secure, samesite = self.get_cookie_secure(app), self.get_cookie_samesite(app)
        httponly = self.get_cookie_httponly(app)
        if session.discarded or (session.ended and not session.modified):
            response.delete_cookie(
                name,
                domain=domain,
                path=path,
                secure=secure,
                httponly=httponly,
                samesite=samesite,
            )
        if session.discarded or session.unavailable:
            return
        if not (session.modified or session.rotated):
            return
        try:
            token = self._write(app, session)
        except DBAPIError as error:
            # The database went away after the request's own work: the session's change (a
            # new form token, say) is lost, so the page made with it is not sent either.
            db.unavailable_instead(response, error)
            return
        response.set_cookie(
            name,
            token,
            domain=domain,
            path=path,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )
        response.vary.add("Cookie")

    def _write(self, app: Flask, session: ServerSession) -> str:
        """Store the session's row (a new one on a first visit); returns its token."""
        with _store_session(app) as store:
            if session.token is None:
                # A first visit that stored something (a CSRF token, a sign-in transaction).
                session.token = _new_token()
                now = datetime.now(UTC)
                _purge_expired(store, now, self.idle)
                store.add(
                    WebSession(
                        token_hash=token_hash(session.token),
                        last_seen_at=now,
                        created_at=now,
                        expires_at=now + self.absolute,
                        data=dict(session),
                    )
                )
            elif session.modified:
                store.execute(
                    sa.update(WebSession)
                    .where(WebSession.token_hash == token_hash(session.token))
                    .values(data=dict(session))
                )
            store.commit()
        return session.token

    def is_null_session(self, obj: object) -> bool:
        return False


def rotate(
    session: ServerSession,
    store: Session,
    *,
    user_id: uuid.UUID,
    identity_provider_id: uuid.UUID,
    provider_session_id: str | None,
    absolute: timedelta,
) -> None:
    """Replace the browser's session by a new, signed-in one, in the request's transaction.

    The old row (holding the sign-in transaction) is deleted; the new token is sent when the
    response is saved. Runs in the same transaction as the sign-in's audit event.
    """
    if session.token is not None:
        store.execute(
            sa.delete(WebSession).where(WebSession.token_hash == token_hash(session.token))
        )
    now = datetime.now(UTC)
    session.clear()
    session.token = _new_token()
    session.user_id = user_id
    session.created_at = now
    session.last_seen_at = now
    session.expires_at = now + absolute
    session.identity_provider_id = identity_provider_id
    session.rotated = True
    session.modified = False
    store.add(
        WebSession(
            token_hash=token_hash(session.token),
            user_id=user_id,
            identity_provider_id=identity_provider_id,
            provider_session_id=provider_session_id,
            created_at=now,
            last_seen_at=now,
            expires_at=session.expires_at,
            data={},
        )
    )


def discard(session: ServerSession, store: Session) -> None:
    """End the browser's session in the request's transaction (sign-out)."""
    if session.token is not None:
        store.execute(
            sa.delete(WebSession).where(WebSession.token_hash == token_hash(session.token))
        )
    session.clear()
    session.token = None
    session.modified = False
    session.discarded = True


def touch(session: ServerSession, store: Session) -> None:
    """Count this request as activity now, in the request's transaction, however recently the
    session was last written: a person who asks to stay signed in gets the whole idle time
    from this moment, not from up to a TOUCH_INTERVAL ago."""
    if session.token is None:
        return
    now = datetime.now(UTC)
    store.execute(
        sa.update(WebSession)
        .where(WebSession.token_hash == token_hash(session.token))
        .values(last_seen_at=now)
    )
    session.last_seen_at = now


def end_sessions(
    store: Session,
    *,
    user_id: uuid.UUID | None = None,
    identity_provider_id: uuid.UUID | None = None,
    provider_session_id: str | None = None,
) -> int:
    """Delete every session of a person, or of one provider session; returns how many."""
    statement = sa.delete(WebSession)
    if user_id is not None:
        statement = statement.where(WebSession.user_id == user_id)
    if identity_provider_id is not None:
        statement = statement.where(WebSession.identity_provider_id == identity_provider_id)
    if provider_session_id is not None:
        statement = statement.where(WebSession.provider_session_id == provider_session_id)
    if statement.whereclause is None:
        raise ValueError("refusing to end every session")
    result = store.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def _session_and_person(store: Session, hashed: str) -> tuple[WebSession, User | None] | None:
    """The session row keyed by `hashed` and its signed-in person (if any), loaded into
    `store` with their organisation and roles by the same statement."""
    statement = (
        sa.select(WebSession, User)
        .outerjoin(User, User.id == WebSession.user_id)
        .outerjoin(User.organisation)
        .outerjoin(User.role_assignments)
        .options(contains_eager(User.organisation), contains_eager(User.role_assignments))
        .where(WebSession.token_hash == hashed)
    )
    found = store.execute(statement).unique().first()
    return None if found is None else (found.WebSession, found.User)


def _give_back_sqlite_lock(store: Session) -> None:
    """SQLite's one write lock is taken at BEGIN (portal/db.py), reads included: once the
    session is read, give it back, so that a page which does not use the request's session
    again (the probes, /metrics: they open connections of their own) never waits for it."""
    if store.get_bind().dialect.name == "sqlite":
        store.commit()  # nothing written; the person stays loaded (expire_on_commit is off)


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _purge_expired(store: Session, now: datetime, idle: timedelta) -> None:
    store.execute(
        sa.delete(WebSession).where(
            sa.or_(WebSession.expires_at <= now, WebSession.last_seen_at <= now - idle)
        )
    )


class _store_session:  # noqa: N801 - used as a context manager, reads like one
    """A short transaction of the session store's own, apart from the request's."""

    def __init__(self, app: Flask) -> None:
        self.session = db.database(app).sessions()

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        self.session.rollback()
        self.session.close()


def init_app(app: Flask, settings: Settings) -> None:
    app.session_interface = DatabaseSessionInterface(settings)
    app.before_request(_refuse_without_store)

    @app.context_processor
    def timeout_notice() -> dict[str, Any]:
        return {"session_timeout": lambda: session_timeout(settings)}


def _refuse_without_store() -> None:
    """Registered before any other hook (CSRF, rate limits): a browser whose session could
    not be read gets the "service unavailable" page, not a form error or a sign-in page."""
    if getattr(flask_session, "unavailable", False):
        raise ServiceUnavailable()


def session_timeout(settings: Settings) -> dict[str, Any] | None:
    """The timeouts to tell a signed-in person about, in UK time, and in seconds for the
    page's warning (session-timeout.mjs): the idle limit, what is left of it now (the last
    write may be up to a TOUCH_INTERVAL old), and how long before the end to warn."""
    current = flask_session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession) or current.expires_at is None:
        return None
    now = datetime.now(UTC)
    idle = timedelta(minutes=settings.auth.idle_timeout_minutes)
    idle_left = idle - (now - (current.last_seen_at or now))
    absolute_left = current.expires_at - now
    ends = current.expires_at.astimezone(UK)
    return {
        "idle_minutes": settings.auth.idle_timeout_minutes,
        "ends_at": uk_time_of_day(ends)
        + ("" if ends.date() == datetime.now(ends.tzinfo).date() else ends.strftime(" on %-d %B")),
        "idle_seconds": int(idle.total_seconds()),
        # Whichever limit comes first: the warning also comes before the absolute end.
        "idle_seconds_left": max(0, int(min(idle_left, absolute_left).total_seconds())),
        "absolute_seconds_left": max(0, int(absolute_left.total_seconds())),
        "warning_seconds": int(warning_lead(idle).total_seconds()),
    }


def warning_lead(idle: timedelta) -> timedelta:
    """How long before the idle timeout the warning comes, for an idle limit of `idle`."""
    return min(WARNING_LEAD, idle / 2)
