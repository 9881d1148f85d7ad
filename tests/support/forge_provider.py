"""A scriptable OpenID provider for tests, served over HTTP on loopback from a thread.

It serves discovery, its public keys, a token endpoint (client_secret_basic and PKCE S256
checked) and userinfo. No browser visits its authorization endpoint: a test reads the portal's
redirect with `read_authorization_request`, scripts the ID token (claims, header, signing key,
or a forgery made with the helpers below), registers a code with `issue_code`, and then calls
the portal's callback itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "portal-test"
CLIENT_SECRET = "forge-client-secret-for-tests"
TOKEN_LIFETIME_SECONDS = 300


@dataclass(frozen=True)
class AuthorizationRequest:
    """What the portal asked the provider for, read from the portal's redirect."""

    endpoint: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str

    @property
    def callback_path(self) -> str:
        """The redirect URI's path, for the Flask test client."""
        return urlsplit(self.redirect_uri).path


def read_authorization_request(location: str) -> AuthorizationRequest:
    parts = urlsplit(location)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return AuthorizationRequest(
        endpoint=f"{parts.scheme}://{parts.netloc}{parts.path}",
        client_id=query["client_id"],
        redirect_uri=query["redirect_uri"],
        scope=query.get("scope", ""),
        state=query["state"],
        nonce=query["nonce"],
        code_challenge=query["code_challenge"],
        code_challenge_method=query["code_challenge_method"],
    )


def callback_path(auth: AuthorizationRequest, **params: str) -> str:
    """The portal's callback as the provider would redirect to it: `state` plus `params`."""
    return f"{auth.callback_path}?{urlencode({**params, 'state': auth.state})}"


# Tokens, honest and forged


def new_signing_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig"})
    key.ensure_kid()
    return key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def payload_of(token: str) -> dict[str, Any]:
    """The claims of a compact JWT, unverified."""
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def sign_token(claims: dict[str, Any], key: RSAKey, header: dict[str, Any] | None = None) -> str:
    """A JWT signed by `key`; `header` overrides alg (RS256) and kid (the key's), and a
    value of None removes a header parameter."""
    protected = _without_none({"alg": "RS256", "kid": key.kid, **(header or {})})
    return jwt.encode(protected, claims, key, algorithms=[protected["alg"]])


def unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg: none` JWT: no signature at all."""
    return f"{_b64url_json({'alg': 'none', 'typ': 'JWT'})}.{_b64url_json(claims)}."


def hmac_token(claims: dict[str, Any], secret: bytes, kid: str | None) -> str:
    """An HS256 JWT keyed with `secret`: the key-confusion attack when `secret` is the
    provider's public key. Made by hand, because joserfc refuses to build it."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def tamper_payload(token: str, **changes: Any) -> str:
    """`token` with claims changed and the original header and signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64url_json({**payload_of(token), **changes})}.{signature}"


@dataclass
class Grant:
    """An authorization code the forge has issued, and what redeeming it returns."""

    code_challenge: str
    redirect_uri: str
    id_token: str
    userinfo: dict[str, Any]
    access_token: str
    reusable: bool
    redemptions: int = 0


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the test asserts on `ForgeProvider.hits`; errors are still logged


class ForgeProvider:
    """The provider; a context manager that serves it on a free loopback port."""

    def __init__(self, *, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.signing_key = new_signing_key()
        self.published_keys: list[RSAKey] = [self.signing_key]
        # Scripted misbehaviour, changed by tests between requests.
        self.token_failure_status: int | None = None
        self.advertise_iss_parameter = False
        self.hits: list[str] = []  # the paths requested, in order
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        if self._server is None:
            raise RuntimeError("the forge provider is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._server = make_server(
            "127.0.0.1", 0, self, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="forge-provider")
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ForgeProvider:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Scripting

    def id_token_claims(
        self,
        auth: AuthorizationRequest,
        *,
        sub: str | None = "alice",
        issued: int = 0,
        expires: int = TOKEN_LIFETIME_SECONDS,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Valid ID token claims for `auth`, issued and expiring the given seconds from now;
        an override of None removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": sub,
            "nonce": auth.nonce,
            "iat": now + issued,
            "exp": now + expires,
            "email": f"{sub or 'nobody'}@forge.test",
            "email_verified": True,
            "name": f"{(sub or 'nobody').title()} Forge",
        }
        return _without_none({**claims, **overrides})

    def logout_token_claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid back-channel logout token claims; an override of None removes the claim."""
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(16),
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        return _without_none({**claims, **overrides})

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: RSAKey | None = None,
        header: dict[str, Any] | None = None,
    ) -> str:
        return sign_token(claims, key or self.signing_key, header)

    def public_key_pem(self) -> bytes:
        pem: bytes = self.signing_key.as_pem(private=False)
        return pem

    def rotate_key(self) -> RSAKey:
        """Publish a new key and sign with it from now on; the old key stays published."""
        key = new_signing_key()
        with self._lock:
            self.published_keys.append(key)
            self.signing_key = key
        return key

    def issue_code(
        self,
        auth: AuthorizationRequest,
        id_token: str,
        *,
        userinfo: dict[str, Any] | None = None,
        reusable: bool = False,
    ) -> str:
        """A code for `auth` that redeems to `id_token` (once, unless `reusable`).

        Userinfo defaults to the ID token's `sub` and `email`.
        """
        if userinfo is None:
            try:
                claims = payload_of(id_token)
            except (IndexError, ValueError):
                claims = {}  # a test sending something that is not a JWT
            userinfo = {name: claims[name] for name in ("sub", "email") if name in claims}
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = Grant(
                code_challenge=auth.code_challenge,
                redirect_uri=auth.redirect_uri,
                id_token=id_token,
                userinfo=userinfo,
                access_token=secrets.token_urlsafe(24),
                reusable=reusable,
            )
        return code

    def redemptions(self, code: str) -> int:
        with self._lock:
            return self._grants[code].redemptions

    def hit_count(self, path: str) -> int:
        with self._lock:
            return self.hits.count(path)

    # Serving

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            self.hits.append(request.path)
        # Werkzeug's server closes each connection after its response: no keep-alive socket
        # outlives a test.
        result: Iterable[bytes] = self._route(request)(environ, start_response)
        return result

    def _route(self, request: Request) -> Response:
        routes = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/jwks"): self._jwks,
            ("POST", "/token"): self._token,
            ("GET", "/userinfo"): self._userinfo,
        }
        handler = routes.get((request.method, request.path))
        if handler is None:
            return Response("not served by the forge provider", status=404)
        return handler(request)

    def _discovery(self, _request: Request) -> Response:
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "end_session_endpoint": f"{self.issuer}/end-session",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "code_challenge_methods_supported": ["S256"],
                "authorization_response_iss_parameter_supported": self.advertise_iss_parameter,
            }
        )

    def _jwks(self, _request: Request) -> Response:
        with self._lock:
            keys = [key.as_dict(private=False) for key in self.published_keys]
        return _json({"keys": keys})

    def _token(self, request: Request) -> Response:
        if self.token_failure_status is not None:
            return Response("the forge provider is failing", status=self.token_failure_status)
        if not self._client_authenticated(request.headers.get("Authorization", "")):
            return _json({"error": "invalid_client"}, status=401)
        form = request.form
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            if (
                form.get("grant_type") != "authorization_code"
                or grant is None
                or (grant.redemptions and not grant.reusable)
                or form.get("redirect_uri") != grant.redirect_uri
                or not _pkce_matches(form.get("code_verifier", ""), grant.code_challenge)
            ):
                return _json({"error": "invalid_grant"}, status=400)
            grant.redemptions += 1
        return _json(
            {
                "access_token": grant.access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECONDS,
                "id_token": grant.id_token,
            }
        )

    def _client_authenticated(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:
            return False
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id) == self.client_id and hmac.compare_digest(
            unquote(secret), self.client_secret
        )

    def _userinfo(self, request: Request) -> Response:
        scheme, _, access_token = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            found = [
                grant
                for grant in self._grants.values()
                if scheme.lower() == "bearer" and grant.access_token == access_token
            ]
        if not found:
            return _json({"error": "invalid_token"}, status=401)
        return _json(found[0].userinfo)


def unused_loopback_issuer() -> str:
    """An issuer URL on a loopback port nothing listens on (a provider that is down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _pkce_matches(verifier: str, challenge: str) -> bool:
    computed = b64url(hashlib.sha256(verifier.encode("utf-8")).digest())
    return bool(verifier) and hmac.compare_digest(computed, challenge)


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
