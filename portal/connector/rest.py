"""The REST adapter: one implementation of `CmsAdapter` for any JSON-over-HTTPS CMS API,
shaped by a `RestMapping`. With the default mapping it is the reference CMS's adapter.

Tokens (OAuth 2.0 client credentials) are cached until shortly before they expire and fetched
again once on a 401. Nothing here logs a body, a token or a secret.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests

from portal.connector.adapter import (
    CmsCase,
    CmsChild,
    CmsFailure,
    CmsRecord,
    Delivery,
    DeliveryReceipt,
    Document,
)
from portal.connector.mapping import RestMapping

TOKEN_MARGIN_SECONDS = 30
TRANSIENT_STATUSES = frozenset({408, 429})
_SAFE_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\[\]-]{1,80}")
PAGE_LIMIT = 500


class RestAdapter:
    def __init__(
        self,
        mapping: RestMapping,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        connect_timeout: float = 5,
        timeout: float = 30,
    ) -> None:
        self.mapping = mapping
        self._base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeouts = (connect_timeout, timeout)
        self._http = requests.Session()
        self._http.headers["Accept"] = "application/json"
        # The environment's proxy and CA bundle are read once, here: by default requests reads
        # them again on every call, scanning the whole environment each time. A ~/.netrc is not
        # read at all, so it can never put its own credentials on the token request.
        self._http.trust_env = False
        self._http.proxies = requests.utils.get_environ_proxies(self._base_url)
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self._http.verify = bundle
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # The four operations

    def find_case(self, reference: str) -> CmsCase | None:
        lookup = self.mapping.case_lookup
        response = self._call("GET", _path(lookup.path, reference=reference), not_found_ok=True)
        if response is None:
            return None
        body = _json(response)
        children = _pluck(body, lookup.children)
        if not isinstance(children, list):
            raise CmsFailure("cms_bad_response", permanent=False, reason="no list of children")
        return CmsCase(
            reference=_text(body, lookup.reference),
            team=_text(body, lookup.team),
            children=tuple(
                CmsChild(
                    person_id=_optional_text(child, lookup.child_person_id),
                    name=_text(child, lookup.child_name),
                    date_of_birth=_text(child, lookup.child_date_of_birth),
                    nhs_number=_optional_text(child, lookup.child_nhs_number),
                    upn=_optional_text(child, lookup.child_upn),
                )
                for child in children
            ),
        )

    def deliver(self, delivery: Delivery) -> DeliveryReceipt:
        mapping = self.mapping.deliver
        response = self._call(
            "POST",
            _path(mapping.path, reference=delivery.case_reference),
            json=self._body(delivery),
            headers={mapping.idempotency_header: delivery.idempotency_key},
            not_found_ok=True,
        )
        if response is None:
            raise CmsFailure("case_not_found", permanent=True, reason="the CMS has no such case")
        body = _json(response)
        record_id = _text(body, mapping.record_id)
        return DeliveryReceipt(record_id[:100], str(_pluck(body, mapping.status) or ""))

    def delivery_status(self, record_id: str) -> str | None:
        mapping = self.mapping.status
        response = self._call("GET", _path(mapping.path, record_id=record_id), not_found_ok=True)
        if response is None:
            return None
        return str(_pluck(_json(response), mapping.status) or "")

    def delivered_records(self) -> Iterator[CmsRecord]:
        mapping = self.mapping.records
        cursor: str | None = None
        while True:
            params = {"limit": str(PAGE_LIMIT)} | (
                {mapping.cursor_parameter: cursor} if cursor else {}
            )
            response = self._call("GET", mapping.path, params=params)
            assert response is not None  # noqa: S101 - only lookups allow a 404
            body = _json(response)
            items = _pluck(body, mapping.items)
            if not isinstance(items, list):
                raise CmsFailure("cms_bad_response", permanent=False, reason="no list of records")
            for item in items:
                yield CmsRecord(
                    record_id=_text(item, mapping.record_id),
                    idempotency_key=_text(item, mapping.idempotency_key),
                    case_reference=_text(item, mapping.case_reference),
                    status=str(_pluck(item, mapping.status) or ""),
                )
            following = _pluck(body, mapping.next)
            if not following or following == cursor:
                return
            cursor = str(following)

    # HTTP

    def _body(self, delivery: Delivery) -> dict[str, Any]:
        """One JSON object for the whole delivery: the case-level parts, and a section per
        child named by its CMS person id, each where the mapping places it."""
        mapping = self.mapping.deliver
        values: dict[str, Any] = {
            "request_reference": delivery.request_reference,
            "version": delivery.version,
            "partner_organisation": delivery.partner_organisation,
            "submitted_at": delivery.submitted_at,
            "form_template": delivery.form_template,
            "form_template_version": delivery.form_template_version,
            "answers": delivery.answers,
            "documents": self._documents(delivery.documents),
            "children": [
                _placed(
                    mapping.child_fields,
                    {
                        "person_id": child.person_id,
                        "confirmation": child.confirmation,
                        "matched_on": child.matched_on,
                        "answers": child.answers,
                        "documents": self._documents(child.documents),
                    },
                )
                for child in delivery.children
            ],
        }
        return _placed(mapping.fields, values)

    def _documents(self, documents: tuple[Document, ...]) -> list[dict[str, Any]]:
        named = self.mapping.deliver.document_fields
        return [
            _placed(
                named,
                {
                    "filename": document.filename,
                    "content_type": document.content_type,
                    "sha256": document.sha256,
                    "content_base64": base64.b64encode(document.content).decode("ascii"),
                },
            )
            for document in documents
        ]

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> requests.Response | None:
        """The 2xx response, None for a 404 where that means "no such thing", else CmsFailure."""
        for fresh_token in (False, True):
            response = self._send(
                method,
                path,
                json=json,
                params=params,
                headers=(headers or {}) | self._auth_headers(refresh=fresh_token),
            )
            if response.status_code != 401 or self.mapping.auth.kind != "client_credentials":
                break
        if 200 <= response.status_code < 300:
            return response
        if response.status_code == 404 and not_found_ok:
            return None
        if response.status_code in (401, 403):
            # The portal's own credentials, not any one delivery's fault: deliveries wait.
            raise CmsFailure(
                "cms_credentials_refused",
                permanent=False,
                reason=f"the CMS answered {response.status_code}",
            )
        raise _failure(response)

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._http.request(
                method,
                self._base_url + path,
                timeout=self._timeouts,
                allow_redirects=False,
                **kwargs,
            )
        except requests.Timeout:
            raise CmsFailure("cms_timeout", permanent=False) from None
        except requests.RequestException as error:
            # A dropped connection after the CMS committed lands here too: the retry, with the
            # same idempotency key, gets the first record back.
            raise CmsFailure(
                "cms_unreachable", permanent=False, reason=type(error).__name__
            ) from None

    def _auth_headers(self, *, refresh: bool) -> dict[str, str]:
        auth = self.mapping.auth
        if auth.kind == "api_key":
            return {auth.api_key_header: self._client_secret}
        with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._token_expires:
                self._token, lifetime = self._fetch_token()
                self._token_expires = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 1)
            return {"Authorization": f"Bearer {self._token}"}

    def _fetch_token(self) -> tuple[str, float]:
        auth = self.mapping.auth
        form = {"grant_type": "client_credentials"} | ({"scope": auth.scope} if auth.scope else {})
        basic: tuple[str, str] | None = None
        if auth.client_authentication == "basic":
            basic = (self._client_id, self._client_secret)
        else:
            form |= {"client_id": self._client_id, "client_secret": self._client_secret}
        response = self._send("POST", auth.token_path, data=form, auth=basic)
        if not 200 <= response.status_code < 300 and response.status_code < 500:
            # The portal's own configuration, not any one delivery's fault: deliveries wait.
            raise CmsFailure(
                "cms_credentials_refused",
                permanent=False,
                reason=f"the token endpoint answered {response.status_code}",
            )
        if not 200 <= response.status_code < 300:
            raise _failure(response)  # a 5xx: transient
        body = _json(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise CmsFailure("cms_bad_response", permanent=False, reason="no access token")
        lifetime = body.get("expires_in")
        return token, float(lifetime) if isinstance(lifetime, int | float) else 300.0


def _failure(response: requests.Response) -> CmsFailure:
    status = response.status_code
    # A redirect is the CMS's configuration (redirects are not followed), not the delivery's.
    transient = status >= 500 or status < 400 or status in TRANSIENT_STATUSES
    return CmsFailure(
        f"cms_http_{status}",
        permanent=not transient,
        reason=_reasons(response),
        retry_after=_retry_after(response.headers.get("Retry-After")),
    )


def _reasons(response: requests.Response) -> str | None:
    """The CMS's error code, or the names of the fields it refused: never its messages, which
    a CMS may fill with the values it was sent."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list):
        fields = [
            str(error.get("field"))[:80]
            for error in errors[:10]
            if isinstance(error, dict) and _SAFE_NAME.fullmatch(str(error.get("field")))
        ]
        return "; ".join(fields) or None
    code = body.get("error")
    return code if isinstance(code, str) and _SAFE_CODE.fullmatch(code) else None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: either a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdecimal():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CmsFailure("cms_bad_response", permanent=False, reason="not a JSON object")
    return body


def _path(template: str, **values: str) -> str:
    return template.format(**{name: quote(value, safe="") for name, value in values.items()})


def _pluck(body: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _text(body: Any, dotted: str) -> str:
    """A field the answer must have: text or a number, else the answer is not usable."""
    value = _pluck(body, dotted)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise CmsFailure("cms_bad_response", permanent=False, reason=f"no {dotted}")
    return str(value)


def _optional_text(body: Any, dotted: str) -> str | None:
    """A field the answer may leave out or set to null (None), else text or a number."""
    value = _pluck(body, dotted)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CmsFailure("cms_bad_response", permanent=False, reason=f"no usable {dotted}")
    return str(value)


def _placed(paths: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    """A new JSON object with each value at its dotted path."""
    body: dict[str, Any] = {}
    for name, value in values.items():
        *parents, last = paths[name].split(".")
        target = body
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return body
