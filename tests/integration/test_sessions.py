"""Server-side sessions: timeouts, suspension, cookie flags, and the sign-in rate limit."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from portal import create_app, db
from portal.auth.policy import SIGNED_IN, access
from portal.auth.sessions import token_hash, warning_lead
from portal.models import Role, UserStatus, WebSession
from tests.conftest import test_settings
from tests.factories import csrf_token, make_organisation, make_user, sign_in

REDIS_URL = "redis://127.0.0.1:6379/0"


def session_row(db_session: Session, token: str) -> WebSession | None:
    db_session.expire_all()
    return db_session.get(WebSession, token_hash(token))


def age_session(db_session: Session, token: str, **changes: datetime) -> None:
    db_session.execute(
        sa.update(WebSession).where(WebSession.token_hash == token_hash(token)).values(**changes)
    )
    db_session.commit()


def test_the_page_tells_a_signed_in_person_when_they_will_be_signed_out(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    sign_in(app, client, user)
    page = client.get("/").get_data(as_text=True)
    assert "signed out after 30 minutes without activity" in page
    assert "at the latest" in page


@pytest.mark.parametrize(
    ("ended", "changes"),
    [
        ("idle", {"last_seen_at": datetime.now(UTC) - timedelta(minutes=31)}),
        ("absolute", {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}),
    ],
)
def test_a_timed_out_session_sends_the_person_to_sign_in_and_is_deleted(
    app: Flask, client: FlaskClient, db_session: Session, ended: str, changes: dict[str, datetime]
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    age_session(db_session, token, **changes)

    @app.get("/test-only/signed-in-page")
    @access(SIGNED_IN)
    def signed_in_page() -> str:
        return "for signed-in people"

    response = client.get("/test-only/signed-in-page")
    location = response.headers["Location"]
    assert response.status_code == 302 and location.startswith("/sign-in?next=")
    assert f"ended={ended}" in location
    assert session_row(db_session, token) is None
    page = client.get(location).get_data(as_text=True)
    assert "You were signed out to protect the information" in page


def test_a_form_sent_after_the_session_idled_out_asks_the_person_to_sign_in_again(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    """Its token belonged to the ended session: the person is sent to sign in and back to the
    form's page, never shown a 'problem with your request' page. A bad token from someone
    still signed in is refused as before."""
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)

    @app.route("/test-only/form", methods=["GET", "POST"])
    @access(SIGNED_IN)
    def form_page() -> str:
        return "a form"

    form_token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    refused = client.post("/test-only/form", data={"csrf_token": "not-the-token"})
    assert refused.status_code == 400
    age_session(db_session, token, last_seen_at=datetime.now(UTC) - timedelta(minutes=31))

    # Back to the page the form was on (a form's own address may answer only POST).
    sent = client.post(
        "/test-only/form",
        data={"csrf_token": form_token},
        headers={"Referer": "http://localhost/inbox/DR-1/answer/check?from=x"},
    )
    assert sent.status_code == 302
    assert sent.headers["Location"] == "/sign-in?next=/inbox/DR-1/answer/check?from%3Dx&ended=idle"
    # Another site's page is never where anyone is sent back to.
    other = client.post(
        "/test-only/form",
        data={"csrf_token": form_token},
        headers={"Referer": "https://elsewhere.example/inbox"},
    )
    assert other.headers["Location"] == "/sign-in"


def test_activity_within_the_idle_timeout_keeps_the_session(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    age_session(db_session, token, last_seen_at=datetime.now(UTC) - timedelta(minutes=29))
    assert "Signed in as" in client.get("/").get_data(as_text=True)
    row = session_row(db_session, token)
    assert row is not None and datetime.now(UTC) - row.last_seen_at < timedelta(minutes=1)


def test_timeouts_are_configurable(
    engine: Engine, keyring_path: Path, connection: Connection, db_session: Session
) -> None:
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        auth={"idle_timeout_minutes": 5, "absolute_timeout_hours": 1},
    )
    app = create_app(settings, check_database=False)
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    client = app.test_client()
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    assert "after 5 minutes without activity" in client.get("/").get_data(as_text=True)
    age_session(db_session, token, last_seen_at=datetime.now(UTC) - timedelta(minutes=6))
    assert client.get("/").get_data(as_text=True).count("Signed in as") == 0
    db.database(app).engine.dispose()


def test_a_suspended_persons_session_ends_at_their_next_request(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    user.status = UserStatus.SUSPENDED
    db_session.commit()

    assert "Signed in as" not in client.get("/").get_data(as_text=True)
    assert session_row(db_session, token) is None


def test_sign_out_deletes_the_session_so_a_captured_cookie_is_worthless(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    token_field = csrf_token(client.get("/").get_data(as_text=True))
    assert client.post("/sign-out", data={"csrf_token": token_field}).status_code == 302
    assert session_row(db_session, token) is None

    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], token)
    assert "Signed in as" not in thief.get("/").get_data(as_text=True)


def test_an_anonymous_session_holds_no_personal_data(
    client: FlaskClient, db_session: Session
) -> None:
    client.get("/sign-in")
    cookie = client.get_cookie("portal-session")
    assert cookie is not None
    row = session_row(db_session, cookie.value)
    assert row is not None and row.user_id is None
    assert set(row.data) == {"csrf_token"}
    assert cookie.value not in str(row.token_hash)  # only the token's hash is stored


def test_production_cookies_are_host_prefixed_and_secure(
    engine: Engine, keyring_path: Path, connection: Connection
) -> None:
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        security={"session_cookie_secure": True},
    )
    app = create_app(settings, check_database=False)
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    response = app.test_client().get("/sign-in", base_url="https://portal.test")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "session" in h)
    assert cookie.startswith("__Host-portal-session=")
    for flag in ("Secure", "HttpOnly", "Path=/", "SameSite=Lax"):
        assert flag in cookie
    assert "Domain=" not in cookie
    db.database(app).engine.dispose()


@pytest.fixture
def redis_limited_app(
    engine: Engine, keyring_path: Path, connection: Connection
) -> tuple[Flask, str]:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is unreachable ({type(error).__name__})")
    prefix = f"portal-test-{uuid.uuid4().hex}"
    settings = test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        security={
            "rate_limit_storage": REDIS_URL,
            "rate_limit_key_prefix": prefix,
            "sign_in_rate_limit": "3 per minute",
        },
    )
    app = create_app(settings, check_database=False)
    db.database(app).sessions = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return app, prefix


def test_sign_in_attempts_are_rate_limited_in_redis(
    redis_limited_app: tuple[Flask, str],
) -> None:
    app, prefix = redis_limited_app
    client = app.test_client()
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    answers = [
        client.post("/sign-in", data={"csrf_token": token, "email": "a@nowhere.test"}).status_code
        for _ in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    page = client.post("/sign-in", data={"csrf_token": token, "email": "a@nowhere.test"})
    assert "There have been too many attempts" in page.get_data(as_text=True)
    assert client.get("/sign-in").status_code == 200  # reading the form is never limited

    # The counters live in Redis, shared by every web process.
    store = redis.Redis.from_url(REDIS_URL)
    try:
        keys = store.keys(f"*{prefix}*")
        assert keys
        store.delete(*keys)
    finally:
        store.close()
    db.database(app).engine.dispose()


def test_a_forged_remember_me_cookie_signs_nobody_in(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    from flask_login.utils import encode_cookie

    admin = make_user(db_session, make_organisation(db_session), Role.PORTAL_ADMIN)
    db_session.commit()
    with app.test_request_context():
        forged = encode_cookie(str(admin.id))  # signed with the app's secret, as Flask-Login does
    client.set_cookie("remember_token", forged)
    assert "Signed in as" not in client.get("/").get_data(as_text=True)
    assert client.get("/admin/identity-providers").status_code == 302  # sent to sign in


def test_staying_signed_in_gives_the_whole_idle_time_again(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    """The timeout warning's "Stay signed in": last seen now, although a page's own request
    would not write a touch only 30 seconds after the last one."""
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    form_token = csrf_token(client.get("/").get_data(as_text=True))
    age_session(db_session, token, last_seen_at=datetime.now(UTC) - timedelta(seconds=30))

    response = client.post("/session/keep-alive", headers={"X-CSRFToken": form_token})
    assert response.status_code == 204
    assert response.get_data() == b""
    row = session_row(db_session, token)
    assert row is not None and datetime.now(UTC) - row.last_seen_at < timedelta(seconds=5)


def test_staying_signed_in_needs_the_form_token(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    token = sign_in(app, client, user)
    seen = datetime.now(UTC) - timedelta(seconds=30)
    age_session(db_session, token, last_seen_at=seen)

    assert client.post("/session/keep-alive").status_code == 400
    row = session_row(db_session, token)
    assert row is not None and row.last_seen_at == seen


def test_staying_signed_in_after_being_signed_out_sends_the_person_to_sign_in(
    client: FlaskClient,
) -> None:
    form_token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/session/keep-alive", headers={"X-CSRFToken": form_token})
    # Not a page to come back to: the page that called it reloads on any answer but 204.
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"


def test_a_signed_in_page_carries_the_timeout_warning_for_its_script(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    sign_in(app, client, user)
    page = client.get("/").get_data(as_text=True)

    dialog = re.search(r'<dialog id="session-timeout"[^>]*>', page)
    assert dialog is not None
    attributes = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', dialog.group(0)))
    assert attributes["data-idle-seconds"] == "1800"
    assert 1790 <= int(attributes["data-idle-seconds-left"]) <= 1800
    assert attributes["data-warning-seconds"] == "120"
    assert attributes["data-keep-alive-url"] == "/session/keep-alive"
    assert attributes["data-csrf-token"] == csrf_token(page)
    assert "You will be signed out soon" in page
    assert "session-timeout.mjs" in page


def test_an_anonymous_page_has_no_timeout_warning(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "session-timeout" not in page


@pytest.mark.parametrize(("idle_minutes", "lead_seconds"), [(30, 120), (4, 120), (3, 90), (1, 30)])
def test_the_warning_comes_two_minutes_early_or_at_half_a_short_idle_time(
    idle_minutes: int, lead_seconds: int
) -> None:
    assert warning_lead(timedelta(minutes=idle_minutes)) == timedelta(seconds=lead_seconds)


def test_the_warnings_script_is_served_as_javascript(client: FlaskClient) -> None:
    """A module script of another type is refused by the browser (and nosniff is set)."""
    with client.get("/assets/session-timeout.mjs") as response:
        assert response.status_code == 200
        assert response.mimetype in {"text/javascript", "application/javascript"}
