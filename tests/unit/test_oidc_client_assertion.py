"""private_key_jwt client assertions, as NHS CIS2 asks: short-lived, unique, bound to the
token endpoint, signed with the key the portal publishes."""

from __future__ import annotations

from types import SimpleNamespace

from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.auth.oidc.flow import CLIENT_ASSERTION_LIFETIME_SECONDS, ShortLivedPrivateKeyJWT

TOKEN_ENDPOINT = "https://cis2.example/token"


def assertion(key: RSAKey) -> jwt.Token:
    auth = SimpleNamespace(client_id="portal", client_secret=key)
    signer = ShortLivedPrivateKeyJWT(TOKEN_ENDPOINT, headers={"kid": key.kid})
    public = RSAKey.import_key(key.as_dict(private=False))
    return jwt.decode(signer.sign(auth, TOKEN_ENDPOINT), public, algorithms=["RS256"])


def test_an_assertion_lives_a_minute_names_the_client_and_the_token_endpoint() -> None:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
    key.ensure_kid()
    token = assertion(key)
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "portal"
    assert claims["aud"] == TOKEN_ENDPOINT
    assert claims["exp"] - claims["iat"] == CLIENT_ASSERTION_LIFETIME_SECONDS == 60
    assert token.header["kid"] == key.kid and token.header["alg"] == "RS256"


def test_every_assertion_has_a_fresh_jti() -> None:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"})
    key.ensure_kid()
    identifiers = {assertion(key).claims["jti"] for _ in range(5)}
    assert len(identifiers) == 5
