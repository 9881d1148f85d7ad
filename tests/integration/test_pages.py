"""The GOV.UK layout, the information pages, error pages and security headers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal import _configure, http_headers
from portal.auth.policy import PUBLIC, access
from portal.crypto import FileKeyring
from portal.crypto.keyring import WrappedKey
from portal.models import OrganisationKind, Role
from tests.factories import csrf_token, make_organisation, make_user, sign_in

SECRET_MARKER = "Amelia-Hart-2015-03-14"


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    """The app plus a route that fails with sensitive-looking text in its exception."""

    @app.get("/test-only/explode")
    @access(PUBLIC)
    def explode() -> str:
        raise RuntimeError(f"could not process {SECRET_MARKER}")

    return app


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/", "Share information with children"),
        ("/accessibility", "Accessibility statement"),
        ("/privacy", "Privacy notice"),
        ("/cookies", "Cookies"),
    ],
)
def test_information_pages_use_the_service_layout(
    client: FlaskClient, path: str, heading: str
) -> None:
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert heading in html
    assert 'class="govuk-tag' in html and "Pilot" in html  # phase banner
    for link in ("/accessibility", "/privacy", "/cookies"):
        assert f'href="{link}"' in html
    # The start page is the service's own: its name once (test_page_titles_and_ids.py).
    page_title = "" if path == "/" else "[^<]+ – "
    assert re.search(rf"<title>{page_title}Share information with children", html)
    assert 'lang="en-GB"' in html


def test_signed_in_pages_offer_sign_out(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    school = make_organisation(db_session, OrganisationKind.SCHOOL, "Ashby Lane Primary")
    user = make_user(db_session, school, Role.PARTNER_CONTRIBUTOR)
    sign_in(app, client, user)

    html = client.get("/").get_data(as_text=True)
    assert 'action="/sign-out"' in html
    assert f"Signed in as {user.display_name}, Ashby Lane Primary" in html


def test_assets_are_served(client: FlaskClient) -> None:
    for name, marker in (("govuk-frontend.min.css", b".govuk-"), ("govuk-frontend.min.js", b"")):
        with client.get(f"/assets/{name}") as response:  # closes the streamed file
            assert response.status_code == 200
            assert marker in response.data


def test_not_found_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_server_error_page_has_no_stack_trace_or_detail(failing_app: Flask) -> None:
    response = failing_app.test_client().get("/test-only/explode")
    html = response.get_data(as_text=True)

    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in html
    for leak in ("Traceback", "RuntimeError", SECRET_MARKER, 'File "', "werkzeug"):
        assert leak not in html


def test_server_error_log_names_the_failure_without_its_message(
    failing_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    # An exception's message can carry content; the log gets its type and where it happened.
    failing_app.test_client().get("/test-only/explode?child=Amelia")
    logged = caplog.text  # as a handler writes it, tracebacks included
    assert "RuntimeError" in logged and "explode" in logged
    assert SECRET_MARKER not in logged
    assert "child=Amelia" not in logged


def test_bad_request_page_for_a_missing_csrf_token(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"email": "x@example.org"})
    assert response.status_code == 400
    assert "Sorry, there is a problem with your request" in response.get_data(as_text=True)


def test_security_headers_and_a_fresh_nonce_per_request(client: FlaskClient) -> None:
    first = client.get("/")
    second = client.get("/")
    policy = first.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce
    assert f'nonce="{nonce.group(1)}"' in first.get_data(as_text=True)
    assert nonce.group(1) not in second.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Frame-Options"] == "DENY"
    assert first.headers["Cache-Control"] == "no-store"
    assert first.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in first.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in first.headers  # plain HTTP, as the demo runs
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["X-Request-Id"])


def test_hsts_when_cookies_are_secure() -> None:
    over_https = Flask("over_https")
    over_https.config["SESSION_COOKIE_SECURE"] = True
    http_headers.init_app(over_https)
    over_https.add_url_rule("/", "home", lambda: "home")

    response = over_https.test_client().get("/")

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_every_inline_script_carries_the_nonce(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or "nonce=" in tag, tag


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient) -> None:
    response = client.get("/sign-in")  # the form's CSRF token starts a session
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "session" in h)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookie_settings(app: Flask) -> None:
    # The test app runs over HTTP like the demo; production's choice is made from the setting.
    settings = app.config["PORTAL_SETTINGS"]
    secure = settings.model_copy(
        update={"security": settings.security.model_copy(update={"session_cookie_secure": True})}
    )
    production_like = Flask("production_like")
    _configure(production_like, secure)
    assert production_like.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production_like.config["SESSION_COOKIE_SECURE"] is True


def test_the_sign_in_form_is_labelled_and_explains_bad_input(client: FlaskClient) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    assert re.search(r'<label class="govuk-label[^"]*" for="email">\s*Work email address', page)
    token = csrf_token(page)
    for email, message in (
        ("", "Enter your work email address"),
        ("not-an-address", "Enter an email address in the correct format"),
        ("someone@unknown.example", "We do not recognise the organisation"),
    ):
        answer = client.post("/sign-in", data={"csrf_token": token, "email": email})
        html = answer.get_data(as_text=True)
        assert answer.status_code == 400
        assert "govuk-error-summary" in html and message in html
        assert html.startswith("<!DOCTYPE html>") and "<title>Error: Sign in" in html


def test_the_accessibility_statement_stays_true_to_the_service(
    app: Flask, client: FlaskClient
) -> None:
    """It names the checker the browser tests really use, the idle limit really configured,
    and the contact when one is configured (otherwise children's services)."""
    package = json.loads((Path(__file__).parents[2] / "package.json").read_text())
    major, minor, _patch = package["dependencies"]["axe-core"].split(".")
    page = client.get("/accessibility").get_data(as_text=True)
    assert f"axe-core {major}.{minor} against" in page
    assert "signs you out after 30 minutes without activity" in page
    assert "partially compliant" in page and "2.2.1 (Timing Adjustable)" in page
    assert "tell Northmoor County Council’s children’s services" in page

    settings = app.config["PORTAL_SETTINGS"]
    contact = "access@council.example"
    app.config["PORTAL_SETTINGS"] = settings.model_copy(
        update={
            "service": settings.service.model_copy(update={"accessibility_contact_email": contact}),
            "auth": settings.auth.model_copy(update={"idle_timeout_minutes": 20}),
        }
    )
    page = client.get("/accessibility").get_data(as_text=True)
    assert f'href="mailto:{contact}"' in page and "signs you out after 20 minutes" in page


def test_data_under_a_key_version_this_host_lacks_is_unavailable_not_an_error(
    app: Flask, keyring: FileKeyring
) -> None:
    # A rotation's new keyring file not yet copied to this host: the page says "unavailable"
    # (it passes once the file arrives), never a stack trace.
    @app.get("/test-only/newer-key")
    @access(PUBLIC)
    def newer_key() -> str:
        keyring.unwrap(WrappedKey(kek_version=99, blob=bytes(60)), b"context")
        return "unreachable"

    response = app.test_client().get("/test-only/newer-key")

    assert response.status_code == 503
    assert "Sorry, the service is unavailable" in response.get_data(as_text=True)
