"""What the portal fetches from a provider: its discovery document and its signing keys.

Both are cached per issuer in the web process. The discovery document is refreshed hourly;
the keys are refetched when a token names a key id the cache does not hold (the provider has
rotated its keys), at most once per sign-in. Signing algorithms are never taken from here:
they are pinned in the registry.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal.auth.oidc.errors import SignInFailure

METADATA_TTL_SECONDS = 3600
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "end_session_endpoint",
)
MAX_DOCUMENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    authorization_response_iss_parameter_supported: bool


class ProviderDirectory:
    """Discovery documents and key sets by issuer, shared by a web process's threads."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, tuple[float, ProviderMetadata]] = {}
        self._keys: dict[str, KeySet] = {}
        self.http = requests.Session()

    def metadata(self, issuer: str) -> ProviderMetadata:
        with self._lock:
            cached = self._metadata.get(issuer)
        if cached and time.monotonic() - cached[0] < METADATA_TTL_SECONDS:
            return cached[1]
        document = self.get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        # OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the one asked.
        if document.get("issuer") != issuer:
            raise SignInFailure("wrong_issuer", status=502)
        if issuer.startswith("https://"):
            plain = [
                name
                for name in (
                    "authorization_endpoint",
                    "token_endpoint",
                    "jwks_uri",
                    "userinfo_endpoint",
                    "end_session_endpoint",
                )
                if str(document.get(name) or "https://").startswith("http://")
            ]
            if plain:
                raise SignInFailure("provider_unavailable", status=502)
        try:
            metadata = ProviderMetadata(
                issuer=issuer,
                authorization_endpoint=_url(document, "authorization_endpoint"),
                token_endpoint=_url(document, "token_endpoint"),
                jwks_uri=_url(document, "jwks_uri"),
                userinfo_endpoint=_optional_url(document, "userinfo_endpoint"),
                end_session_endpoint=_optional_url(document, "end_session_endpoint"),
                authorization_response_iss_parameter_supported=bool(
                    document.get("authorization_response_iss_parameter_supported", False)
                ),
            )
        except (KeyError, TypeError, ValueError):
            raise SignInFailure("provider_unavailable", status=502) from None
        with self._lock:
            self._metadata[issuer] = (time.monotonic(), metadata)
        return metadata

    def keys(self, metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        with self._lock:
            cached = self._keys.get(metadata.issuer)
        if cached is not None and not refresh:
            return cached
        document = self.get_json(metadata.jwks_uri)
        try:
            # Only public keys meant for signatures are kept.
            keys = [
                key
                for key in document.get("keys", [])
                if isinstance(key, dict) and key.get("use", "sig") == "sig" and "d" not in key
            ]
            key_set = KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError):
            raise SignInFailure("provider_unavailable", status=502) from None
        with self._lock:
            self._keys[metadata.issuer] = key_set
        return key_set

    def forget(self, issuer: str) -> None:
        with self._lock:
            self._metadata.pop(issuer, None)
            self._keys.pop(issuer, None)

    def get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            with self.http.get(url, timeout=self.timeout, stream=True, **kwargs) as response:
                if response.status_code != 200:
                    raise SignInFailure("provider_unavailable", status=502)
                body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
        except requests.RequestException:
            raise SignInFailure("provider_unavailable", status=502) from None
        if len(body) > MAX_DOCUMENT_BYTES:
            raise SignInFailure("provider_unavailable", status=502)
        try:
            document = json.loads(body)
        except ValueError:
            raise SignInFailure("provider_unavailable", status=502) from None
        if not isinstance(document, dict):
            raise SignInFailure("provider_unavailable", status=502)
        return document


def _url(document: dict[str, Any], name: str) -> str:
    value = document[name]
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ValueError(name)
    return value


def _optional_url(document: dict[str, Any], name: str) -> str | None:
    return _url(document, name) if document.get(name) else None
