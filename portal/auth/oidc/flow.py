"""The authorization code flow with PKCE (S256), state and nonce, through Authlib.

`begin` stores the transaction (state, nonce, PKCE verifier, provider, where to go next) in the
server-side session, never in a browser cookie, and returns the provider's authorization URL.
`complete` takes the transaction out of the session whatever happens (a state is used once),
checks the response came from the provider the sign-in started with (its own callback URL,
and RFC 9207's `iss` parameter when sent), redeems the code once, validates the ID token and
compares the userinfo subject.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import RSAKey

from portal.auth.oidc.discovery import ProviderDirectory, ProviderMetadata
from portal.auth.oidc.errors import SignInFailure
from portal.auth.oidc.tokens import check_id_token_claims, verify_signature
from portal.models import ClientAuthMethod, IdentityProvider

TRANSACTIONS_KEY = "oidc_transactions"
TRANSACTION_LIFETIME_SECONDS = 600
MAX_OPEN_TRANSACTIONS = 5
CLIENT_ASSERTION_LIFETIME_SECONDS = 60


@dataclass(frozen=True)
class Credentials:
    """The portal's client credential for one provider, decrypted for one token request."""

    client_secret: str | None = None
    private_jwk: dict[str, Any] | None = None


@dataclass(frozen=True)
class VerifiedSignIn:
    provider_id: str
    id_token_claims: dict[str, Any]
    userinfo: dict[str, Any]
    next_path: str | None

    @property
    def subject(self) -> str:
        subject: str = self.id_token_claims["sub"]
        return subject

    @property
    def provider_session_id(self) -> str | None:
        sid = self.id_token_claims.get("sid")
        return sid if isinstance(sid, str) else None


def begin(
    session: MutableMapping[str, Any],
    provider: IdentityProvider,
    metadata: ProviderMetadata,
    *,
    redirect_uri: str,
    next_path: str | None,
) -> str:
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    client = OAuth2Session(
        provider.client_id,
        scope=provider.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    url, _ = client.create_authorization_url(
        metadata.authorization_endpoint,
        state=state,
        nonce=nonce,
        code_verifier=verifier,
        **assurance_request(provider),
    )
    now = time.time()
    open_transactions = {
        key: value
        for key, value in dict(session.get(TRANSACTIONS_KEY, {})).items()
        if now - value["started"] < TRANSACTION_LIFETIME_SECONDS
    }
    while len(open_transactions) >= MAX_OPEN_TRANSACTIONS:
        open_transactions.pop(min(open_transactions, key=lambda k: open_transactions[k]["started"]))
    open_transactions[state] = {
        "provider": str(provider.id),
        "nonce": nonce,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "next": next_path,
        "started": now,
    }
    session[TRANSACTIONS_KEY] = open_transactions
    return str(url)


def assurance_request(provider: IdentityProvider) -> dict[str, str]:
    """Ask for the assurance the organisation requires (OIDC Core §3.1.2.1 `acr_values`, in the
    entry's order of preference): some providers (NHS CIS2) step a person up to MFA only when
    asked. The ID token's `acr` is still checked against the same values (identity.py)."""
    if not provider.required_acr_values:
        return {}
    return {"acr_values": " ".join(provider.required_acr_values)}


def take_transaction(session: MutableMapping[str, Any], state: str | None) -> dict[str, Any]:
    """Remove and return the transaction `state` names; refuse unknown or stale ones."""
    transactions = dict(session.get(TRANSACTIONS_KEY, {}))
    transaction = transactions.pop(state, None) if state else None
    if transaction is not None:
        session[TRANSACTIONS_KEY] = transactions
    if transaction is None or time.time() - transaction["started"] >= TRANSACTION_LIFETIME_SECONDS:
        raise SignInFailure("no_transaction")
    return dict(transaction)


def complete(
    transaction: Mapping[str, Any],
    args: Mapping[str, str],
    provider: IdentityProvider,
    metadata: ProviderMetadata,
    directory: ProviderDirectory,
    credentials: Credentials,
    *,
    skew: int,
) -> VerifiedSignIn:
    if transaction["provider"] != str(provider.id):
        raise SignInFailure("wrong_provider")
    if "iss" in args and args["iss"] != provider.issuer:
        raise SignInFailure("issuer_mismatch")
    if metadata.authorization_response_iss_parameter_supported and "iss" not in args:
        raise SignInFailure("issuer_mismatch")
    if "error" in args:
        raise SignInFailure("provider_error")
    code = args.get("code")
    if not code:
        raise SignInFailure("missing_code")

    token = _redeem(code, transaction, provider, metadata, directory, credentials)
    raw_id_token = token.get("id_token")
    if not isinstance(raw_id_token, str):
        raise SignInFailure("malformed_token")
    claims = verify_signature(
        raw_id_token,
        algorithms=provider.signing_algorithms,
        keys=lambda refresh: directory.keys(metadata, refresh=refresh),
    )
    check_id_token_claims(
        claims,
        issuer=provider.issuer,
        client_id=provider.client_id,
        nonce=transaction["nonce"],
        skew=skew,
    )
    userinfo = _userinfo(token, claims, metadata, directory)
    return VerifiedSignIn(str(provider.id), claims, userinfo, transaction.get("next"))


def _redeem(
    code: str,
    transaction: Mapping[str, Any],
    provider: IdentityProvider,
    metadata: ProviderMetadata,
    directory: ProviderDirectory,
    credentials: Credentials,
) -> dict[str, Any]:
    method = provider.client_auth_method
    if method == ClientAuthMethod.PRIVATE_KEY_JWT:
        if credentials.private_jwk is None:
            raise SignInFailure("provider_disabled")
        secret: Any = RSAKey.import_key(credentials.private_jwk)
    else:
        secret = credentials.client_secret
    client = OAuth2Session(
        provider.client_id,
        secret,
        redirect_uri=transaction["redirect_uri"],
        token_endpoint_auth_method=method.value,
    )
    if method == ClientAuthMethod.PRIVATE_KEY_JWT:
        client.register_client_auth_method(
            ShortLivedPrivateKeyJWT(metadata.token_endpoint, headers={"kid": secret.kid})
        )
    try:
        token = client.fetch_token(
            metadata.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=transaction["verifier"],
            timeout=directory.timeout,
        )
    except (AuthlibBaseError, requests.RequestException, ValueError):
        raise SignInFailure("token_request_failed") from None
    finally:
        client.close()
    return dict(token)


def _userinfo(
    token: Mapping[str, Any],
    claims: Mapping[str, Any],
    metadata: ProviderMetadata,
    directory: ProviderDirectory,
) -> dict[str, Any]:
    if metadata.userinfo_endpoint is None or not token.get("access_token"):
        return {}
    try:
        userinfo = directory.get_json(
            metadata.userinfo_endpoint,
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
    except SignInFailure:
        raise SignInFailure("userinfo_failed") from None
    # OpenID Connect Core 1.0 §5.3.2: the userinfo sub must equal the ID token's.
    if userinfo.get("sub") != claims["sub"]:
        raise SignInFailure("userinfo_sub_mismatch")
    return userinfo


class ShortLivedPrivateKeyJWT(PrivateKeyJWT):
    """private_key_jwt client assertions that expire after a minute (NHS CIS2 asks for a
    short `exp`); each has a fresh random `jti` (Authlib's default)."""

    alg = "RS256"

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign

        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=self.claims,
            header=self.headers,
            alg=self.alg,
            expires_in=CLIENT_ASSERTION_LIFETIME_SECONDS,
        )
