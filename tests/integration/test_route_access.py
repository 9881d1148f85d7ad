"""Default deny, and the permission matrix: every route × every role, checked for real.

Adding a route without an access rule fails `test_every_route_declares_an_access_rule`;
adding one without a row in MATRIX fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.auth.policy import rule_for
from portal.models import OrganisationKind, Role, UserStatus
from tests.factories import csrf_token, make_organisation, make_user, sign_in

ANONYMOUS = "anonymous"
PEOPLE = (ANONYMOUS, *(role.value for role in Role))
EVERYONE = frozenset(PEOPLE)
SIGNED_IN = EVERYONE - {ANONYMOUS}

PARTNERS = frozenset({"partner_contributor", "partner_lead"})
COUNCIL_CASEWORK = frozenset({"social_worker", "team_manager"})
ONBOARDING_READERS = frozenset({"partner_engagement_officer", "portal_admin", "ig_officer"})
ENGAGEMENT = frozenset({"partner_engagement_officer"})
CHANGE_PROPOSERS = frozenset({"portal_admin", "partner_engagement_officer"})
LEAD_PROPOSERS = CHANGE_PROPOSERS | {"partner_lead"}
CHANGE_DECIDERS = frozenset({"ig_officer", "partner_lead"})
ACCESS_VIEWERS = LEAD_PROPOSERS | {"ig_officer"}

# (method, path) -> who gets through the guard. Everyone else is sent to sign in (anonymous)
# or refused with 403 (signed in).
MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/accessibility"): EVERYONE,
    ("GET", "/privacy"): EVERYONE,
    ("GET", "/cookies"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/readyz"): EVERYONE,
    # Only the metrics scraper's bearer token gets through; to everyone else it is a 404.
    ("GET", "/metrics"): frozenset(),
    ("GET", "/sign-in"): EVERYONE,
    ("POST", "/sign-in"): EVERYONE,
    ("GET", "/sign-in/organisations"): EVERYONE,
    ("GET", "/sign-in/start/<slug>"): EVERYONE,
    ("GET", "/sign-in/callback/<slug>"): EVERYONE,
    ("POST", "/sign-in/back-channel-logout/<slug>"): EVERYONE,
    ("GET", "/sign-in/waiting-for-approval"): EVERYONE,
    ("GET", "/.well-known/jwks.json"): EVERYONE,
    ("GET", "/signed-out"): EVERYONE,
    ("POST", "/sign-out"): SIGNED_IN,
    ("POST", "/session/keep-alive"): SIGNED_IN,
    ("GET", "/assets/govuk-frontend.min.css"): EVERYONE,
    ("GET", "/people"): frozenset({"partner_lead", "portal_admin"}),
    ("GET", "/people/<user_id>"): frozenset({"partner_lead", "portal_admin"}),
    ("POST", "/people/<user_id>/approve"): frozenset({"partner_lead", "portal_admin"}),
    ("POST", "/people/<user_id>/roles"): frozenset({"partner_lead", "portal_admin"}),
    ("POST", "/people/<user_id>/suspend"): frozenset({"partner_lead", "portal_admin"}),
    ("POST", "/people/<user_id>/reinstate"): frozenset({"partner_lead", "portal_admin"}),
    ("GET", "/admin/identity-providers"): frozenset({"portal_admin"}),
    ("GET", "/admin/identity-providers/new"): frozenset({"portal_admin"}),
    ("POST", "/admin/identity-providers/new"): frozenset({"portal_admin"}),
    ("GET", "/admin/identity-providers/<slug>"): frozenset({"portal_admin"}),
    ("POST", "/admin/identity-providers/<slug>"): frozenset({"portal_admin"}),
    ("GET", "/admin/organisations"): frozenset({"portal_admin"}),
    ("POST", "/admin/organisations/<organisation_id>/self-provisioning"): frozenset(
        {"portal_admin"}
    ),
    ("GET", "/admin/deliveries"): frozenset({"portal_admin"}),
    ("POST", "/admin/deliveries/<delivery_id>/retry"): frozenset({"portal_admin"}),
    ("GET", "/admin/deliveries/<delivery_id>/cancel"): frozenset({"portal_admin"}),
    ("POST", "/admin/deliveries/<delivery_id>/cancel"): frozenset({"portal_admin"}),
    ("GET", "/audit"): frozenset({"ig_officer"}),
    ("GET", "/audit/events/<seq>"): frozenset({"ig_officer"}),
    ("GET", "/audit/cases/<case_reference>/access"): frozenset({"ig_officer"}),
    # Issue 20 helper D: find a case or child; check an export in the browser.
    ("GET", "/audit/cases"): frozenset({"ig_officer"}),
    ("GET", "/audit/check-export"): frozenset({"ig_officer"}),
    ("POST", "/audit/check-export"): frozenset({"ig_officer"}),
    ("GET", "/audit/verify"): frozenset({"ig_officer"}),
    ("GET", "/requests"): frozenset({"social_worker", "team_manager"}),
    ("GET", "/requests/new"): frozenset({"social_worker", "team_manager"}),
    ("POST", "/requests/new"): frozenset({"social_worker", "team_manager"}),
    ("GET", "/requests/new/<case_reference>"): frozenset({"social_worker", "team_manager"}),
    ("POST", "/requests/new/<case_reference>"): frozenset({"social_worker", "team_manager"}),
    ("GET", "/requests/<reference>"): frozenset({"social_worker", "team_manager"}),
    ("GET", "/cases"): COUNCIL_CASEWORK,
    ("GET", "/cases/<cms_reference>"): COUNCIL_CASEWORK,
    ("POST", "/requests/<reference>/revoke"): frozenset({"social_worker", "team_manager"}),
    ("POST", "/requests/<reference>/extend"): frozenset({"social_worker", "team_manager"}),
    ("GET", "/inbox"): frozenset({"partner_contributor", "partner_lead"}),
    ("GET", "/inbox/<reference>"): frozenset({"partner_contributor", "partner_lead"}),
    ("POST", "/inbox/<reference>/route"): frozenset({"partner_lead"}),
    ("GET", "/inbox/<reference>/answer"): frozenset({"partner_contributor", "partner_lead"}),
    ("GET", "/inbox/<reference>/children"): PARTNERS,
    ("POST", "/inbox/<reference>/children"): PARTNERS,
    ("GET", "/inbox/<reference>/answer/<section_id>"): PARTNERS,
    ("POST", "/inbox/<reference>/answer/<section_id>"): PARTNERS,
    ("GET", "/inbox/<reference>/answer/check"): PARTNERS,
    ("POST", "/inbox/<reference>/answer/submit"): PARTNERS,
    ("GET", "/inbox/<reference>/receipts/<version>"): PARTNERS,
    ("GET", "/inbox/<reference>/receipts/<version>/download"): PARTNERS,
    # Helper A (issue 20): the partner's copy of what it sent, and anyone checking a receipt.
    ("GET", "/inbox/<reference>/versions/<version>/copy"): PARTNERS,
    ("GET", "/inbox/<reference>/versions/<version>/copy.pdf"): PARTNERS,
    # Issue 21: the receipt with its proof that it is in the audit log, as the copy; and the
    # log's public heads, consistency proofs and key, for anyone checking such a proof.
    ("GET", "/inbox/<reference>/versions/<version>/receipt-proof.json"): PARTNERS,
    ("GET", "/audit-log/checkpoint"): EVERYONE,
    ("GET", "/audit-log/consistency"): EVERYONE,
    ("GET", "/audit-log/key"): EVERYONE,
    ("GET", "/receipts/verify"): EVERYONE,
    ("POST", "/receipts/verify"): EVERYONE,
    ("GET", "/receipts/keys"): EVERYONE,
    ("GET", "/receipts/keys/<key_id>.pem"): EVERYONE,
    ("GET", "/requests/<reference>/versions/<version>"): COUNCIL_CASEWORK,
    ("POST", "/inbox/<reference>/answer/<section_id>/files/<answer_key>"): PARTNERS,
    ("POST", "/inbox/<reference>/answer/<section_id>/files/<attachment_id>/remove"): PARTNERS,
    ("GET", "/requests/<reference>/versions/<version>/files/<attachment_id>"): COUNCIL_CASEWORK,
    ("GET", "/requests/<reference>/versions/<version>/files/<attachment_id>/original"): (
        COUNCIL_CASEWORK
    ),
    ("POST", "/requests/<reference>/versions/<version>/files/<attachment_id>/original"): (
        COUNCIL_CASEWORK
    ),
    ("POST", "/requests/<reference>/versions/<version>/decision"): COUNCIL_CASEWORK,
    ("GET", "/audit/checkpoints"): frozenset({"ig_officer"}),
    ("POST", "/audit/checkpoints"): frozenset({"ig_officer"}),
    ("POST", "/audit/export"): frozenset({"ig_officer"}),
    ("GET", "/audit/legal-holds"): frozenset({"ig_officer"}),
    ("POST", "/audit/legal-holds"): frozenset({"ig_officer"}),
    ("POST", "/audit/legal-holds/<reference>/release"): frozenset({"ig_officer"}),
    ("GET", "/.well-known/audit-checkpoint-key.pem"): EVERYONE,
    ("GET", "/organisations"): ONBOARDING_READERS,
    ("GET", "/organisations/new"): ENGAGEMENT,
    ("POST", "/organisations/new"): ENGAGEMENT,
    ("GET", "/organisations/<organisation_id>"): ONBOARDING_READERS,
    ("POST", "/organisations/<organisation_id>/stage"): ENGAGEMENT,
    ("GET", "/organisations/<organisation_id>/agreement"): ENGAGEMENT,
    ("POST", "/organisations/<organisation_id>/agreement"): ENGAGEMENT,
    ("GET", "/organisations/<organisation_id>/dpia"): ENGAGEMENT,
    ("POST", "/organisations/<organisation_id>/dpia"): ENGAGEMENT,
    ("GET", "/organisations/<organisation_id>/mfa"): ENGAGEMENT,
    ("POST", "/organisations/<organisation_id>/mfa"): ENGAGEMENT,
    ("GET", "/pilot"): frozenset({"partner_engagement_officer"}),
    ("GET", "/pilot/feedback"): frozenset({"partner_engagement_officer"}),
    ("POST", "/pilot/figures.csv"): frozenset({"partner_engagement_officer"}),
    ("POST", "/pilot/figures.ods"): frozenset({"partner_engagement_officer"}),
    ("GET", "/requests/<reference>/answered-elsewhere"): COUNCIL_CASEWORK,
    ("POST", "/requests/<reference>/answered-elsewhere"): COUNCIL_CASEWORK,
    ("GET", "/inbox/<reference>/receipts/<version>/feedback"): PARTNERS,
    ("POST", "/inbox/<reference>/receipts/<version>/feedback"): PARTNERS,
    # Two people for changes that widen who can act for a partner (portal/onboarding).
    ("GET", "/organisations/<organisation_id>/access"): ACCESS_VIEWERS,
    ("POST", "/organisations/<organisation_id>/access/domains"): CHANGE_PROPOSERS,
    ("POST", "/organisations/<organisation_id>/access/self-provisioning"): CHANGE_PROPOSERS,
    ("POST", "/organisations/<organisation_id>/access/partner-lead"): LEAD_PROPOSERS,
    ("POST", "/organisations/<organisation_id>/access/changes/<change_id>/withdraw"): (
        LEAD_PROPOSERS
    ),
    ("GET", "/approvals"): CHANGE_DECIDERS,
    ("GET", "/approvals/<change_id>"): CHANGE_DECIDERS,
    ("POST", "/approvals/<change_id>/approve"): CHANGE_DECIDERS,
    ("POST", "/approvals/<change_id>/refuse"): CHANGE_DECIDERS,
}
# Routes whose path has parameters are listed by their rule, and by a concrete path above.
RULE_EXAMPLES = {"/assets/<path:filename>": "/assets/govuk-frontend.min.css"}
# Routes that answer 404, not a sign-in page or 403, to everyone without their token.
TOKEN_ONLY = {("GET", "/metrics")}
# Routes that answer 404 to everyone while there is nothing to show: the log's newest
# witnessed checkpoint, of which a fresh test database has none.
EMPTY_HERE = {("GET", "/audit-log/checkpoint")}
ORGANISATION_FOR = {
    Role.PARTNER_CONTRIBUTOR: OrganisationKind.SCHOOL,
    Role.PARTNER_LEAD: OrganisationKind.SCHOOL,
}


def routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        path = RULE_EXAMPLES.get(rule.rule, rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, path))
    return found


def test_every_route_declares_an_access_rule(app: Flask) -> None:
    unguarded = [rule.rule for rule in app.url_map.iter_rules() if not rule_for(app, rule.endpoint)]
    assert unguarded == []


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    assert routes(app) == set(MATRIX)


def test_a_route_without_a_rule_is_refused_to_everyone(app: Flask, db_session: Session) -> None:
    @app.get("/test-only/forgotten")
    def forgotten() -> str:
        return "should never be seen"

    client = app.test_client()
    assert client.get("/test-only/forgotten").status_code == 403
    admin = make_user(db_session, make_organisation(db_session), Role.PORTAL_ADMIN)
    sign_in(app, client, admin)
    response = client.get("/test-only/forgotten")
    assert response.status_code == 403
    assert "should never be seen" not in response.get_data(as_text=True)


def client_for(app: Flask, db_session: Session, person: str) -> FlaskClient:
    client = app.test_client()
    if person != ANONYMOUS:
        role = Role(person)
        kind = ORGANISATION_FOR.get(role, OrganisationKind.COUNCIL)
        sign_in(app, client, make_user(db_session, make_organisation(db_session, kind), role))
    return client


def call(client: FlaskClient, method: str, path: str) -> tuple[int, str]:
    if method == "GET":
        response = client.get(path)
    else:
        token = csrf_token(client.get("/sign-in").get_data(as_text=True))
        response = client.open(path, method=method, data={"csrf_token": token})
    with response:  # static files stream from disk; close them
        if not path.startswith("/assets/"):
            # Every answer of every route, to every person, may carry personal data: never
            # stored by a browser or proxy, and always under the page policy.
            assert response.headers["Cache-Control"] == "no-store", (method, path)
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        return response.status_code, response.headers.get("Location", "")


@pytest.mark.parametrize("person", PEOPLE)
def test_permission_matrix(app: Flask, db_session: Session, person: str) -> None:
    client = client_for(app, db_session, person)
    for (method, path), allowed in sorted(MATRIX.items()):
        status, location = call(client, method, path)
        if person in allowed:
            # Through the guard: not refused, not sent to sign in, not broken. (A form posted
            # empty may answer 400 with its error summary: that is the form, not the guard.)
            # A path with a placeholder names no real object: 404 is past the guard. 204 is
            # an answer with nothing to show (staying signed in).
            empty = "<" in path or (method, path) in EMPTY_HERE
            answered = (200, 204, 302, 400, 404) if empty else (200, 204, 302, 400)
            through = status in answered and location.split("?")[0] != "/sign-in"
            assert through, (method, path, status, location)
        elif (method, path) in TOKEN_ONLY:
            assert status == 404, (method, path, status)
        elif person == ANONYMOUS:
            # A page asked for is where they come back to; a form sent from nowhere (no
            # Referer from the portal) has no page to come back to.
            back = location.startswith("/sign-in?next=") if method == "GET" else True
            assert status == 302 and location.split("?")[0] == "/sign-in" and back, (method, path)
        else:
            assert status == 403, (method, path, status)


def test_a_suspended_person_loses_their_session_at_the_next_request(
    app: Flask, db_session: Session
) -> None:
    client = app.test_client()
    user = make_user(db_session, make_organisation(db_session), Role.PARTNER_CONTRIBUTOR)
    sign_in(app, client, user)
    assert "Your account" in client.get("/").get_data(as_text=True)

    user.status = UserStatus.SUSPENDED
    db_session.commit()

    page = client.get("/").get_data(as_text=True)
    assert "Your account" not in page and "Sign in" in page
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in")
