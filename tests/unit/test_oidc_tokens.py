"""The token rules of portal.auth.oidc.tokens, one at a time, with no provider or database."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from joserfc.jwk import KeySet, RSAKey

from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.tokens import (
    BACK_CHANNEL_LOGOUT_EVENT,
    check_id_token_claims,
    check_logout_token_claims,
    logout_token_accepted_until,
    verify_signature,
)
from tests.support.forge_provider import (
    hmac_token,
    new_signing_key,
    sign_token,
    tamper_payload,
    unsigned_token,
)

ISSUER = "https://idp.example.test"
CLIENT_ID = "portal"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_800_000_000
SKEW = 60


def id_token_claims(**changes: Any) -> dict[str, Any]:
    """Valid ID token claims at NOW; a change to None removes the claim."""
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "alice",
        "nonce": NONCE,
        "iat": NOW,
        "exp": NOW + 300,
    }
    return {name: value for name, value in {**claims, **changes}.items() if value is not None}


def logout_claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": NOW,
        "jti": "logout-1",
        "events": {BACK_CHANNEL_LOGOUT_EVENT: {}},
        "sub": "alice",
    }
    return {name: value for name, value in {**claims, **changes}.items() if value is not None}


def check_id_token(claims: dict[str, Any]) -> None:
    check_id_token_claims(
        claims, issuer=ISSUER, client_id=CLIENT_ID, nonce=NONCE, skew=SKEW, now=NOW
    )


def check_logout(claims: dict[str, Any]) -> None:
    check_logout_token_claims(claims, issuer=ISSUER, client_id=CLIENT_ID, skew=SKEW, now=NOW)


def reason_for(check: Callable[[dict[str, Any]], None], claims: dict[str, Any]) -> str:
    with pytest.raises(SignInFailure) as refused:
        check(claims)
    return refused.value.reason


# ID token claims


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(id_token_claims(), id="plain"),
        pytest.param(id_token_claims(aud=[CLIENT_ID]), id="one audience in a list"),
        pytest.param(id_token_claims(aud=[CLIENT_ID, "api"], azp=CLIENT_ID), id="azp is us"),
        pytest.param(id_token_claims(iat=NOW + SKEW), id="iat at the edge of the skew"),
        pytest.param(id_token_claims(exp=NOW - SKEW + 1), id="exp within the skew"),
    ],
)
def test_valid_id_token_claims_pass(claims: dict[str, Any]) -> None:
    check_id_token(claims)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param(id_token_claims(iss="https://evil.test"), "wrong_issuer", id="issuer"),
        pytest.param(id_token_claims(iss=None), "wrong_issuer", id="issuer missing"),
        pytest.param(id_token_claims(aud="another"), "wrong_audience", id="audience"),
        pytest.param(id_token_claims(aud=None), "wrong_audience", id="audience missing"),
        pytest.param(id_token_claims(aud=7), "wrong_audience", id="audience not text"),
        pytest.param(id_token_claims(aud=[CLIENT_ID, "api"]), "missing_azp", id="no azp"),
        pytest.param(
            id_token_claims(aud=[CLIENT_ID, "api"], azp="api"), "wrong_audience", id="azp"
        ),
        pytest.param(id_token_claims(azp="api"), "wrong_audience", id="azp, one audience"),
        pytest.param(id_token_claims(exp=NOW - SKEW), "expired", id="expired"),
        pytest.param(id_token_claims(exp=None), "expired", id="exp missing"),
        pytest.param(id_token_claims(exp=True), "expired", id="exp a boolean"),
        pytest.param(id_token_claims(iat=None), "missing_iat", id="iat missing"),
        pytest.param(id_token_claims(iat=str(NOW)), "missing_iat", id="iat text"),
        pytest.param(id_token_claims(iat=NOW + SKEW + 1), "issued_in_future", id="iat ahead"),
        pytest.param(id_token_claims(nonce="other"), "nonce_mismatch", id="nonce"),
        pytest.param(id_token_claims(nonce=None), "nonce_mismatch", id="nonce missing"),
        pytest.param(id_token_claims(sub=None), "missing_sub", id="sub missing"),
        pytest.param(id_token_claims(sub=""), "missing_sub", id="sub empty"),
        pytest.param(id_token_claims(sub=42), "missing_sub", id="sub not text"),
    ],
)
def test_id_token_claims_breaking_a_rule_are_refused(claims: dict[str, Any], reason: str) -> None:
    assert reason_for(check_id_token, claims) == reason


# Logout token claims


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(logout_claims(), id="sub"),
        pytest.param(logout_claims(sub=None, sid="session-1"), id="sid only"),
        pytest.param(logout_claims(exp=NOW + 120), id="with exp"),
    ],
)
def test_valid_logout_token_claims_pass(claims: dict[str, Any]) -> None:
    check_logout(claims)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param(logout_claims(nonce=NONCE), "malformed_token", id="nonce present"),
        pytest.param(logout_claims(events=None), "malformed_token", id="events missing"),
        pytest.param(logout_claims(events={"other": {}}), "malformed_token", id="other event"),
        pytest.param(
            logout_claims(events={BACK_CHANNEL_LOGOUT_EVENT: "yes"}),
            "malformed_token",
            id="event not an object",
        ),
        pytest.param(logout_claims(jti=None), "malformed_token", id="jti missing"),
        pytest.param(logout_claims(sub=None), "missing_sub", id="neither sub nor sid"),
        pytest.param(logout_claims(aud="another"), "wrong_audience", id="audience"),
        pytest.param(logout_claims(iss="https://evil.test"), "wrong_issuer", id="issuer"),
        pytest.param(logout_claims(iat=None), "missing_iat", id="iat missing"),
        pytest.param(logout_claims(exp=NOW - SKEW), "expired", id="expired"),
        pytest.param(logout_claims(iat=NOW - 120 - SKEW - 1), "expired", id="old: a replay"),
    ],
)
def test_logout_token_claims_breaking_a_rule_are_refused(
    claims: dict[str, Any], reason: str
) -> None:
    assert reason_for(check_logout, claims) == reason


# Signatures


@pytest.fixture(scope="module")
def provider_key() -> RSAKey:
    return new_signing_key()


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return new_signing_key()


class KeySource:
    """The provider's published keys: `current` at first, `after_refresh` once refetched."""

    def __init__(self, current: list[RSAKey], after_refresh: list[RSAKey] | None = None) -> None:
        self.current = current
        self.after_refresh = current if after_refresh is None else after_refresh
        self.calls: list[bool] = []

    def __call__(self, refresh: bool) -> KeySet:
        self.calls.append(refresh)
        keys = self.after_refresh if refresh else self.current
        return KeySet([RSAKey.import_key(key.as_dict(private=False)) for key in keys])


def verify(token: str, keys: KeySource, algorithms: list[str] | None = None) -> dict[str, Any]:
    return verify_signature(token, algorithms=algorithms or ["RS256"], keys=keys)


def refusal(token: str, keys: KeySource, algorithms: list[str] | None = None) -> str:
    with pytest.raises(SignInFailure) as refused:
        verify(token, keys, algorithms)
    return refused.value.reason


def test_a_token_signed_by_a_published_key_is_accepted(provider_key: RSAKey) -> None:
    keys = KeySource([provider_key])
    assert verify(sign_token({"sub": "alice"}, provider_key), keys) == {"sub": "alice"}
    assert keys.calls == [False]


def test_a_new_key_is_fetched_once_and_accepted(provider_key: RSAKey, other_key: RSAKey) -> None:
    keys = KeySource([provider_key], after_refresh=[provider_key, other_key])
    assert verify(sign_token({"sub": "alice"}, other_key), keys) == {"sub": "alice"}
    assert keys.calls == [False, True]


def test_a_key_unknown_after_one_refetch_is_refused(
    provider_key: RSAKey, other_key: RSAKey
) -> None:
    keys = KeySource([provider_key])
    assert refusal(sign_token({"sub": "alice"}, other_key), keys) == "unknown_key"
    assert keys.calls == [False, True]


def test_a_token_without_kid_needs_a_single_published_key(
    provider_key: RSAKey, other_key: RSAKey
) -> None:
    token = sign_token({"sub": "alice"}, provider_key, header={"kid": None})
    assert verify(token, KeySource([provider_key])) == {"sub": "alice"}
    assert refusal(token, KeySource([provider_key, other_key])) == "unknown_key"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"jku": "https://evil.test/jwks"}, id="jku"),
        pytest.param({"x5u": "https://evil.test/cert"}, id="x5u"),
    ],
)
def test_keys_named_in_the_header_are_never_used(
    provider_key: RSAKey, header: dict[str, str]
) -> None:
    token = sign_token({"sub": "alice"}, provider_key, header=header)
    assert refusal(token, KeySource([provider_key])) == "unknown_key"


def test_a_changed_payload_has_a_bad_signature(provider_key: RSAKey) -> None:
    token = tamper_payload(sign_token({"sub": "alice"}, provider_key), sub="mallory")
    assert refusal(token, KeySource([provider_key])) == "bad_signature"


def test_a_foreign_key_using_a_published_kid_has_a_bad_signature(
    provider_key: RSAKey, other_key: RSAKey
) -> None:
    token = sign_token({"sub": "alice"}, other_key, header={"kid": provider_key.kid})
    assert refusal(token, KeySource([provider_key])) == "bad_signature"


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda key: unsigned_token({"sub": "alice"}), id="alg none"),
        pytest.param(
            lambda key: hmac_token({"sub": "alice"}, key.as_pem(private=False), key.kid),
            id="HS256 keyed with the public key",
        ),
        pytest.param(
            lambda key: sign_token({"sub": "alice"}, key, header={"alg": "PS256"}),
            id="PS256 when RS256 is pinned",
        ),
    ],
)
def test_an_algorithm_not_pinned_is_refused(
    provider_key: RSAKey, make_token: Callable[[RSAKey], str]
) -> None:
    keys = KeySource([provider_key])
    assert refusal(make_token(provider_key), keys) == "algorithm_not_allowed"
    assert keys.calls == []  # refused before any key is fetched


def test_hmac_with_the_public_key_is_refused_even_if_a_stored_entry_pinned_hs256(
    provider_key: RSAKey,
) -> None:
    # The registry never pins HMAC (or none); the token check drops them whatever is stored.
    token = hmac_token({"sub": "alice"}, provider_key.as_pem(private=False), provider_key.kid)
    keys = KeySource([provider_key])
    assert refusal(token, keys, ["RS256", "HS256"]) == "algorithm_not_allowed"
    assert keys.calls == []


def _segment(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


RS256_HEADER = _segment('{"alg":"RS256"}')


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-jwt", id="one segment"),
        pytest.param("\u00e9.\u00e9.\u00e9", id="not ascii"),
        pytest.param(f"{RS256_HEADER}.{_segment('[1]')}.AAAA", id="payload an array"),
        pytest.param(f"{RS256_HEADER}.{_segment('not json')}.AAAA", id="payload not json"),
        pytest.param(f"{_segment('not json')}.{_segment('{}')}.AAAA", id="header not json"),
    ],
)
def test_a_token_that_is_not_a_jws_is_malformed(provider_key: RSAKey, token: str) -> None:
    assert refusal(token, KeySource([provider_key])) == "malformed_token"


@pytest.mark.parametrize(
    ("claims", "until"),
    [
        pytest.param(logout_claims(), NOW + 120 + SKEW, id="two minutes from issue"),
        pytest.param(logout_claims(exp=NOW + 30), NOW + 30 + SKEW, id="exp sooner"),
        pytest.param(logout_claims(exp=NOW + 600), NOW + 120 + SKEW, id="exp later"),
    ],
)
def test_a_logout_token_is_accepted_until_its_last_acceptable_moment_and_no_later(
    claims: dict[str, Any], until: float
) -> None:
    assert logout_token_accepted_until(claims, skew=SKEW) == until
    check_logout_token_claims(
        claims, issuer=ISSUER, client_id=CLIENT_ID, skew=SKEW, now=until - 0.5
    )
    with pytest.raises(SignInFailure, match="expired"):
        check_logout_token_claims(
            claims, issuer=ISSUER, client_id=CLIENT_ID, skew=SKEW, now=until + 0.5
        )
