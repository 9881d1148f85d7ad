"""Every rule the portal applies to an OpenID Connect sign-in, each broken once by a forging
provider: the person sees the failure page with the reason, the refusal is audited, and no
signed-in session results. Back-channel logout is checked the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.audit import AuditAction
from portal.auth import oidc
from portal.auth.oidc.provider_spec import ProviderSpec
from portal.auth.oidc.registry import save_provider
from portal.auth.policy import SIGNED_IN, access
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    AuditEvent,
    ClientAuthMethod,
    IdentityProvider,
    Organisation,
    OrganisationKind,
    User,
    UserStatus,
    WebSession,
)
from tests.factories import make_organisation
from tests.support.forge_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    AuthorizationRequest,
    ForgeProvider,
    callback_path,
    hmac_token,
    new_signing_key,
    read_authorization_request,
    tamper_payload,
    unsigned_token,
    unused_loopback_issuer,
)

FORGE_ORGANISATION = "Forge Academy Trust"
SIGNED_IN_PAGE = "/test-only/signed-in"
PROVIDER_SESSION_ID = "forge-session-1"
TokenScript = Callable[[ForgeProvider, AuthorizationRequest], str]
LogoutScript = Callable[[ForgeProvider], str]


# Fixtures


@pytest.fixture
def forge() -> Iterator[ForgeProvider]:
    with ForgeProvider() as provider:
        yield provider


@pytest.fixture
def other_forge() -> Iterator[ForgeProvider]:
    with ForgeProvider() as provider:
        yield provider


@pytest.fixture
def portal(app: Flask) -> Iterator[Flask]:
    """The app with a page only signed-in people reach; its provider connections closed after."""

    @app.get(SIGNED_IN_PAGE)
    @access(SIGNED_IN)
    def signed_in_only() -> str:
        return "for signed-in people"

    yield app
    oidc.directory(app).http.close()


@pytest.fixture
def forge_organisation(db_session: Session) -> Organisation:
    organisation = make_organisation(db_session, OrganisationKind.SCHOOL, FORGE_ORGANISATION)
    organisation.self_provisioning = True
    db_session.flush()
    return organisation


@pytest.fixture
def forged_provider(
    portal: Flask,
    db_session: Session,
    keyring: FileKeyring,
    forge: ForgeProvider,
    forge_organisation: Organisation,
) -> IdentityProvider:
    return register_provider(db_session, keyring, forge_organisation, "forge", forge.issuer)


@pytest.fixture
def other_provider(
    portal: Flask, db_session: Session, keyring: FileKeyring, other_forge: ForgeProvider
) -> IdentityProvider:
    organisation = make_organisation(db_session, OrganisationKind.SCHOOL, "Other Trust")
    return register_provider(db_session, keyring, organisation, "other", other_forge.issuer)


def register_provider(
    db_session: Session, keyring: FileKeyring, organisation: Organisation, slug: str, issuer: str
) -> IdentityProvider:
    spec = ProviderSpec(
        organisation=organisation.name,
        slug=slug,
        display_name=f"{organisation.name} sign-in",
        issuer=issuer,
        client_id=CLIENT_ID,
        client_auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
        signing_algorithms=["RS256"],
        allowed_email_domains=["forge.test"],
    )
    cipher = RecordCipher(keyring, db_session)
    provider = save_provider(db_session, cipher, spec, client_secret=CLIENT_SECRET)
    # Approved long ago, at the organisation's own domain: newcomers need not wait 30 days.
    provider.trusted_since = datetime.now(UTC) - timedelta(days=365)
    organisation.email_domains = ["forge.test"]
    db_session.flush()
    return provider


# Steps and checks


def start_sign_in(
    client: FlaskClient, slug: str = "forge", query: str = ""
) -> AuthorizationRequest:
    response = client.get(f"/sign-in/start/{slug}{query}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return read_authorization_request(response.headers["Location"])


def deliver(
    client: FlaskClient,
    forge: ForgeProvider,
    auth: AuthorizationRequest,
    id_token: str,
    *,
    userinfo: dict[str, Any] | None = None,
    iss: str | None = None,
) -> TestResponse:
    """The provider's redirect back to the portal, with a code that redeems to `id_token`
    (and RFC 9207's `iss` when given)."""
    params = {"code": forge.issue_code(auth, id_token, userinfo=userinfo)}
    if iss is not None:
        params["iss"] = iss
    return client.get(callback_path(auth, **params))


def sign_in_through(
    client: FlaskClient, forge: ForgeProvider, sub: str = "alice", **claims: Any
) -> TestResponse:
    auth = start_sign_in(client)
    return deliver(client, forge, auth, forge.sign(forge.id_token_claims(auth, sub=sub, **claims)))


def signed_in_sessions(db_session: Session) -> list[WebSession]:
    return list(db_session.scalars(sa.select(WebSession).where(WebSession.user_id.is_not(None))))


def audited(db_session: Session, action: AuditAction) -> list[dict[str, Any]]:
    events = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    )
    return [dict(event.details) for event in events]


def assert_failure_page(response: TestResponse, reason: str, status: int = 400) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert "You have not been signed in" in html
    assert f"<strong>{reason}</strong>" in html
    assert "govuk-heading-l" in html
    assert "Traceback" not in html


def assert_nobody_signed_in(client: FlaskClient, db_session: Session) -> None:
    assert signed_in_sessions(db_session) == []
    assert "Signed in as" not in client.get("/").get_data(as_text=True)
    assert client.get(SIGNED_IN_PAGE).status_code == 302


def assert_refused(
    response: TestResponse,
    client: FlaskClient,
    db_session: Session,
    reason: str,
    status: int = 400,
    provider: str = "forge",
) -> None:
    assert_failure_page(response, reason, status)
    assert audited(db_session, AuditAction.SIGN_IN_FAILED)[-1] == {
        "provider": provider,
        "reason": reason,
    }
    assert_nobody_signed_in(client, db_session)


# The valid sign-in


def test_a_valid_sign_in_signs_the_person_in(
    portal: Flask,
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client, query="?next=/privacy")
    cookie_name = portal.config["SESSION_COOKIE_NAME"]
    signed_out_cookie = client.get_cookie(cookie_name)
    assert signed_out_cookie is not None  # the server-side session holding the transaction
    assert auth.endpoint == f"{forge.issuer}/authorize"
    assert (auth.client_id, auth.code_challenge_method) == (CLIENT_ID, "S256")
    assert auth.redirect_uri.endswith("/sign-in/callback/forge")
    assert "openid" in auth.scope.split()

    claims = forge.id_token_claims(auth, sid=PROVIDER_SESSION_ID)
    response = deliver(client, forge, auth, forge.sign(claims), iss=forge.issuer)

    assert response.status_code == 302
    assert response.headers["Location"] == "/privacy"
    signed_in_cookie = client.get_cookie(cookie_name)
    assert signed_in_cookie is not None
    assert signed_in_cookie.value != signed_out_cookie.value  # a new session, not the old one
    user = db_session.scalars(
        sa.select(User).where(User.issuer == forge.issuer, User.subject == "alice")
    ).one()
    assert user.status == UserStatus.ACTIVE
    assert [row.user_id for row in signed_in_sessions(db_session)] == [user.id]
    assert signed_in_sessions(db_session)[0].provider_session_id == PROVIDER_SESSION_ID
    assert f"Signed in as Alice Forge, {FORGE_ORGANISATION}" in client.get("/").get_data(
        as_text=True
    )
    assert client.get(SIGNED_IN_PAGE).status_code == 200
    assert audited(db_session, AuditAction.SIGN_IN) == [{"provider": "forge", "acr": None}]
    assert forge.hit_count("/token") == 1
    assert forge.hit_count("/userinfo") == 1


def test_an_issue_time_within_the_allowed_skew_is_accepted(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    response = sign_in_through(client, forge, issued=30)
    assert response.status_code == 302
    assert len(signed_in_sessions(db_session)) == 1


# The ID token's signature


def _sign_as_provider(**header: Any) -> TokenScript:
    return lambda forge, auth: forge.sign(forge.id_token_claims(auth), header=header)


def _tampered(forge: ForgeProvider, auth: AuthorizationRequest) -> str:
    return tamper_payload(forge.sign(forge.id_token_claims(auth)), sub="mallory")


def _foreign_key_same_kid(forge: ForgeProvider, auth: AuthorizationRequest) -> str:
    claims = forge.id_token_claims(auth)
    return forge.sign(claims, key=new_signing_key(), header={"kid": forge.signing_key.kid})


def _alg_none(forge: ForgeProvider, auth: AuthorizationRequest) -> str:
    return unsigned_token(forge.id_token_claims(auth))


def _hmac_with_public_key(forge: ForgeProvider, auth: AuthorizationRequest) -> str:
    claims = forge.id_token_claims(auth)
    return hmac_token(claims, forge.public_key_pem(), forge.signing_key.kid)


def _attacker_key_url(forge: ForgeProvider, auth: AuthorizationRequest) -> str:
    attacker = new_signing_key()
    header = {"jku": "https://attacker.test/jwks.json"}
    return forge.sign(forge.id_token_claims(auth), key=attacker, header=header)


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param(_tampered, "bad_signature", id="tampered payload"),
        pytest.param(_foreign_key_same_kid, "bad_signature", id="foreign key, same kid"),
        pytest.param(_alg_none, "algorithm_not_allowed", id="alg none"),
        pytest.param(_hmac_with_public_key, "algorithm_not_allowed", id="HS256 with public key"),
        pytest.param(
            _sign_as_provider(alg="PS256"), "algorithm_not_allowed", id="PS256 not pinned"
        ),
        pytest.param(_attacker_key_url, "unknown_key", id="jku names the attacker's keys"),
        pytest.param(lambda forge, auth: "not-a-jwt", "malformed_token", id="not a JWT"),
    ],
)
def test_an_id_token_not_signed_by_the_provider_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    script: TokenScript,
    reason: str,
) -> None:
    auth = start_sign_in(client)
    response = deliver(client, forge, auth, script(forge, auth))
    assert_refused(response, client, db_session, reason)


# The ID token's claims


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param({"iss": "https://elsewhere.test"}, "wrong_issuer", id="wrong issuer"),
        pytest.param({"aud": "another-client"}, "wrong_audience", id="wrong audience"),
        pytest.param({"aud": [CLIENT_ID, "another"]}, "missing_azp", id="audiences, no azp"),
        pytest.param(
            {"aud": [CLIENT_ID, "another"], "azp": "another"}, "wrong_audience", id="azp not us"
        ),
        pytest.param({"expires": -120}, "expired", id="expired"),
        pytest.param({"iat": None}, "missing_iat", id="iat missing"),
        pytest.param({"issued": 120}, "issued_in_future", id="iat beyond skew"),
        pytest.param({"nonce": "another-sign-in"}, "nonce_mismatch", id="nonce wrong"),
        pytest.param({"nonce": None}, "nonce_mismatch", id="nonce missing"),
        pytest.param({"sub": None}, "missing_sub", id="sub missing"),
    ],
)
def test_an_id_token_breaking_a_claim_rule_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    claims: dict[str, Any],
    reason: str,
) -> None:
    response = sign_in_through(client, forge, **claims)
    assert_refused(response, client, db_session, reason)


def test_userinfo_about_another_person_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client)
    id_token = forge.sign(forge.id_token_claims(auth))
    response = deliver(client, forge, auth, id_token, userinfo={"sub": "mallory"})
    assert_refused(response, client, db_session, "userinfo_sub_mismatch")


# The authorization response


@pytest.mark.parametrize(
    "forge_state",
    [
        pytest.param(lambda state: state[::-1], id="tampered"),
        pytest.param(lambda state: "x" * len(state), id="unknown"),
        pytest.param(lambda state: "", id="empty"),
    ],
)
def test_a_callback_with_a_state_the_browser_did_not_start_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    forge_state: Callable[[str], str],
) -> None:
    auth = start_sign_in(client)
    forged = dataclasses.replace(auth, state=forge_state(auth.state))
    response = deliver(client, forge, forged, forge.sign(forge.id_token_claims(auth)))
    assert_refused(response, client, db_session, "no_transaction")
    assert forge.hit_count("/token") == 0


def test_a_callback_is_good_once_even_when_the_provider_would_redeem_its_code_again(
    portal: Flask,
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client)
    code = forge.issue_code(auth, forge.sign(forge.id_token_claims(auth)), reusable=True)
    callback = callback_path(auth, code=code)
    assert client.get(callback).status_code == 302
    signed_in = signed_in_sessions(db_session)

    assert_failure_page(client.get(callback), "no_transaction")
    attacker = portal.test_client()
    assert_failure_page(attacker.get(callback), "no_transaction")

    assert forge.redemptions(code) == 1
    assert signed_in_sessions(db_session) == signed_in
    assert "Signed in as" not in attacker.get("/").get_data(as_text=True)
    reasons = [details["reason"] for details in audited(db_session, AuditAction.SIGN_IN_FAILED)]
    assert reasons == ["no_transaction", "no_transaction"]


def test_a_code_delivered_to_another_providers_callback_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    other_forge: ForgeProvider,
    forged_provider: IdentityProvider,
    other_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client, "forge")
    code = forge.issue_code(auth, forge.sign(forge.id_token_claims(auth)))

    mixed_up = client.get(f"/sign-in/callback/other?code={code}&state={auth.state}")

    assert_refused(mixed_up, client, db_session, "wrong_provider", provider="other")
    assert forge.hit_count("/token") == other_forge.hit_count("/token") == 0
    # The state was spent on the mixed-up try: the right callback is refused too.
    assert_refused(client.get(callback_path(auth, code=code)), client, db_session, "no_transaction")


@pytest.mark.parametrize(
    ("iss", "advertised"),
    [
        pytest.param("https://elsewhere.test", False, id="iss names another issuer"),
        pytest.param(None, True, id="iss advertised but missing"),
    ],
)
def test_an_authorization_response_from_another_issuer_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    iss: str | None,
    advertised: bool,
) -> None:
    forge.advertise_iss_parameter = advertised
    auth = start_sign_in(client)
    response = deliver(client, forge, auth, forge.sign(forge.id_token_claims(auth)), iss=iss)
    assert_refused(response, client, db_session, "issuer_mismatch")
    assert forge.hit_count("/token") == 0


def test_a_provider_error_response_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client)
    response = client.get(
        callback_path(auth, error="access_denied", error_description="The person said no")
    )
    assert_refused(response, client, db_session, "provider_error")
    assert "The person said no" not in response.get_data(as_text=True)


# Keys


def test_a_rotated_key_is_fetched_once_and_accepted(
    portal: Flask,
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    directory = oidc.directory(portal)
    directory.keys(directory.metadata(forge.issuer))  # the old key set is cached
    forge.rotate_key()

    response = sign_in_through(client, forge)

    assert response.status_code == 302
    assert len(signed_in_sessions(db_session)) == 1
    assert forge.hit_count("/jwks") == 2


def test_a_key_still_unknown_after_one_refetch_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
) -> None:
    auth = start_sign_in(client)
    unpublished = new_signing_key()
    response = deliver(
        client, forge, auth, forge.sign(forge.id_token_claims(auth), key=unpublished)
    )
    assert_refused(response, client, db_session, "unknown_key")
    assert forge.hit_count("/jwks") == 2  # the first fetch and one refetch, never more


# The provider misbehaving


def _server_error(forge: ForgeProvider, auth: AuthorizationRequest) -> AuthorizationRequest:
    forge.token_failure_status = 500
    return auth


def _secret_changed(forge: ForgeProvider, auth: AuthorizationRequest) -> AuthorizationRequest:
    forge.client_secret = "a-secret-the-portal-does-not-have"
    return auth


def _challenge_differs(forge: ForgeProvider, auth: AuthorizationRequest) -> AuthorizationRequest:
    return dataclasses.replace(auth, code_challenge="a-challenge-the-portal-never-sent")


@pytest.mark.parametrize(
    "break_token_request",
    [
        pytest.param(_server_error, id="server error"),
        pytest.param(_secret_changed, id="client authentication refused"),
        pytest.param(_challenge_differs, id="PKCE verifier does not match"),
    ],
)
def test_a_failed_token_request_is_refused(
    client: FlaskClient,
    db_session: Session,
    forge: ForgeProvider,
    forged_provider: IdentityProvider,
    break_token_request: Callable[[ForgeProvider, AuthorizationRequest], AuthorizationRequest],
) -> None:
    auth = start_sign_in(client)
    id_token = forge.sign(forge.id_token_claims(auth))
    code = forge.issue_code(break_token_request(forge, auth), id_token)
    response = client.get(callback_path(auth, code=code))
    assert_refused(response, client, db_session, "token_request_failed")


def test_a_provider_that_is_down_gets_the_unavailable_page(
    portal: Flask, client: FlaskClient, db_session: Session, keyring: FileKeyring
) -> None:
    organisation = make_organisation(db_session, OrganisationKind.SCHOOL, "Offline Trust")
    register_provider(db_session, keyring, organisation, "offline", unused_loopback_issuer())
    response = client.get("/sign-in/start/offline")
    assert_refused(
        response, client, db_session, "provider_unavailable", status=502, provider="offline"
    )


# Back-channel logout


@pytest.fixture
def alice(portal: Flask, forge: ForgeProvider, forged_provider: IdentityProvider) -> FlaskClient:
    """A browser signed in through the forge as alice, in provider session PROVIDER_SESSION_ID."""
    browser = portal.test_client()
    assert sign_in_through(browser, forge, "alice", sid=PROVIDER_SESSION_ID).status_code == 302
    return browser


@pytest.fixture
def bob(portal: Flask, forge: ForgeProvider, forged_provider: IdentityProvider) -> FlaskClient:
    browser = portal.test_client()
    assert sign_in_through(browser, forge, "bob", sid="forge-session-2").status_code == 302
    return browser


def post_logout_token(portal: Flask, token: str) -> TestResponse:
    """The provider's own POST: no browser cookie, no CSRF token."""
    return portal.test_client().post(
        "/sign-in/back-channel-logout/forge", data={"logout_token": token}
    )


@pytest.mark.parametrize(
    "names",
    [
        pytest.param({"sub": "alice"}, id="by sub"),
        pytest.param({"sid": PROVIDER_SESSION_ID}, id="by sid"),
        pytest.param({"sub": "alice", "sid": PROVIDER_SESSION_ID}, id="by sub and sid"),
    ],
)
def test_a_valid_logout_token_ends_that_persons_sessions(
    portal: Flask,
    db_session: Session,
    forge: ForgeProvider,
    alice: FlaskClient,
    bob: FlaskClient,
    names: dict[str, str],
) -> None:
    response = post_logout_token(portal, forge.sign(forge.logout_token_claims(**names)))

    assert response.status_code == 200
    sign_in_again = alice.get(SIGNED_IN_PAGE)
    assert sign_in_again.status_code == 302
    assert sign_in_again.headers["Location"].startswith("/sign-in")
    assert bob.get(SIGNED_IN_PAGE).status_code == 200
    assert len(signed_in_sessions(db_session)) == 1
    assert audited(db_session, AuditAction.SESSION_ENDED_BY_PROVIDER)[-1]["sessions_ended"] == 1


def _logout_token(**claims: Any) -> LogoutScript:
    return lambda forge: forge.sign(forge.logout_token_claims(sub="alice", **claims))


def _logout_token_tampered(forge: ForgeProvider) -> str:
    return tamper_payload(forge.sign(forge.logout_token_claims(sub="bob")), sub="alice")


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        pytest.param(_logout_token(nonce="n-0S6_WzA2Mj"), "malformed_token", id="nonce present"),
        pytest.param(_logout_token(events=None), "malformed_token", id="events missing"),
        pytest.param(_logout_token(aud="another-client"), "wrong_audience", id="wrong aud"),
        pytest.param(_logout_token_tampered, "bad_signature", id="bad signature"),
    ],
)
def test_a_malformed_logout_token_ends_nothing(
    portal: Flask,
    db_session: Session,
    forge: ForgeProvider,
    alice: FlaskClient,
    script: LogoutScript,
    reason: str,
) -> None:
    response = post_logout_token(portal, script(forge))

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert alice.get(SIGNED_IN_PAGE).status_code == 200
    assert len(signed_in_sessions(db_session)) == 1
    assert audited(db_session, AuditAction.LOGOUT_TOKEN_REFUSED)[-1] == {"reason": reason}
