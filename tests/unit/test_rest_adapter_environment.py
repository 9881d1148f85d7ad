"""The REST adapter reads the environment's proxy and CA bundle once, when it is made, instead
of on every call to the CMS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.connector.mapping import REFERENCE_MAPPING
from portal.connector.rest import RestAdapter

PROXY = "http://proxy.council.invalid:3128"


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)


def adapter() -> RestAdapter:
    return RestAdapter(
        REFERENCE_MAPPING, base_url="https://cms.council.invalid", client_id="id", client_secret="s"
    )


def test_the_proxy_and_ca_bundle_are_taken_when_the_adapter_is_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("https_proxy", PROXY)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "council-ca.pem"))
    made = adapter()
    monkeypatch.delenv("https_proxy")

    assert made._http.proxies["https"] == PROXY
    assert made._http.verify == str(tmp_path / "council-ca.pem")
    # Not read again per call (nor ~/.netrc, which could replace the token's credentials).
    assert made._http.trust_env is False


def test_a_cms_the_proxy_is_bypassed_for_is_reached_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("https_proxy", PROXY)
    monkeypatch.setenv("no_proxy", "cms.council.invalid")
    made = adapter()
    assert not made._http.proxies
    assert made._http.verify is True
