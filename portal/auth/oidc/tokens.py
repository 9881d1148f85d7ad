"""Validating ID tokens and logout tokens: every rule stated here, none left to a default.

joserfc checks the signature against the algorithms we pass; everything else (issuer,
audience, authorised party, expiry, issue time, nonce, subject) is checked below, because
libraries differ in what they check by default (Authlib, for one, does not compare `aud`
with the client id and drops the `iss` check when given claim options).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from portal.auth.oidc.errors import SignInFailure

ASYMMETRIC_ALGORITHMS = frozenset(
    ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
)
LOGOUT_TOKEN_MAX_AGE_SECONDS = 120
BACK_CHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
KeySource = Callable[[bool], KeySet]  # refresh -> keys


def verify_signature(raw: str, *, algorithms: Sequence[str], keys: KeySource) -> dict[str, Any]:
    """The token's claims if it is signed by one of the provider's keys with a pinned algorithm.

    An unknown key id makes one refetch of the provider's keys (key rotation), never more.
    """
    try:
        compact = jws.extract_compact(raw.encode("ascii"))
        header = compact.headers()
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError):
        raise SignInFailure("malformed_token") from None
    if not isinstance(claims, dict):
        raise SignInFailure("malformed_token")
    # Pinned per provider, and whatever a stored entry says, only asymmetric algorithms:
    # never `none`, never HMAC (whose key would be the provider's public key).
    algorithms = [alg for alg in algorithms if alg in ASYMMETRIC_ALGORITHMS]
    if header.get("alg") not in algorithms:
        raise SignInFailure("algorithm_not_allowed")
    if "jku" in header or "jwk" in header or "x5u" in header:
        raise SignInFailure("unknown_key")  # keys come from the provider's discovered JWKS only
    kid = header.get("kid")
    key_set = keys(False)
    if not _has_key(key_set, kid):
        key_set = keys(True)
        if not _has_key(key_set, kid):
            raise SignInFailure("unknown_key")
    try:
        token = jwt.decode(raw, key_set, algorithms=list(algorithms))
    except BadSignatureError:
        raise SignInFailure("bad_signature") from None
    except InvalidKeyIdError:
        raise SignInFailure("unknown_key") from None
    except JoseError:
        raise SignInFailure("bad_signature") from None
    return dict(token.claims)


def _has_key(key_set: KeySet, kid: Any) -> bool:
    if kid is None:
        # Without a key id the set must hold exactly one key for the signature check.
        return len(key_set.keys) == 1
    try:
        key_set.get_by_kid(kid)
    except (InvalidKeyIdError, ValueError):
        return False
    return True


def check_id_token_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    skew: int,
    now: float | None = None,
) -> None:
    """OpenID Connect Core 1.0 §3.1.3.7, as this portal applies it."""
    now = time.time() if now is None else now
    _check_issuer_and_audience(claims, issuer=issuer, client_id=client_id)
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + skew <= now:
        raise SignInFailure("expired")
    _check_issued_at(claims, now=now, skew=skew)
    if not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce:
        raise SignInFailure("nonce_mismatch")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SignInFailure("missing_sub")


def check_logout_token_claims(
    claims: dict[str, Any], *, issuer: str, client_id: str, skew: int, now: float | None = None
) -> None:
    """OpenID Connect Back-Channel Logout 1.0 §2.6."""
    now = time.time() if now is None else now
    _check_issuer_and_audience(claims, issuer=issuer, client_id=client_id)
    _check_issued_at(claims, now=now, skew=skew)
    # A logout token is delivered at once; an old one is a replay.
    if claims["iat"] < now - LOGOUT_TOKEN_MAX_AGE_SECONDS - skew:
        raise SignInFailure("expired")
    exp = claims.get("exp")
    if exp is not None and (not _is_number(exp) or exp + skew <= now):
        raise SignInFailure("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACK_CHANNEL_LOGOUT_EVENT), dict):
        raise SignInFailure("malformed_token")
    if "nonce" in claims or not isinstance(claims.get("jti"), str):
        raise SignInFailure("malformed_token")
    sub, sid = claims.get("sub"), claims.get("sid")
    if not (isinstance(sub, str) and sub) and not (isinstance(sid, str) and sid):
        raise SignInFailure("missing_sub")


def logout_token_accepted_until(claims: dict[str, Any], *, skew: int) -> float:
    """The last moment (Unix time) `check_logout_token_claims` would accept these claims: so
    long is a token's `jti` remembered, to refuse it if it comes again."""
    until = float(claims["iat"]) + LOGOUT_TOKEN_MAX_AGE_SECONDS + skew
    exp = claims.get("exp")
    return min(until, float(exp) + skew) if exp is not None and _is_number(exp) else until


def _check_issuer_and_audience(claims: dict[str, Any], *, issuer: str, client_id: str) -> None:
    if claims.get("iss") != issuer:
        raise SignInFailure("wrong_issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise SignInFailure("wrong_audience")
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise SignInFailure("missing_azp")
    if azp is not None and azp != client_id:
        raise SignInFailure("wrong_audience")


def _check_issued_at(claims: dict[str, Any], *, now: float, skew: int) -> None:
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise SignInFailure("missing_iat")
    if iat > now + skew:
        raise SignInFailure("issued_in_future")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
