"""Every page carries its inline scripts' nonce in its Content-Security-Policy, error pages
included: a CSRF failure and a too-large form are refused before any view runs (once, before
the nonce was made, so their pages' own scripts were blocked)."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>", re.IGNORECASE)


def assert_scripts_allowed(response: TestResponse) -> None:
    policy = response.headers["Content-Security-Policy"]
    allowed = re.search(r"'nonce-([^']*)'", policy)
    assert allowed and allowed.group(1), f"no nonce in {policy!r}"
    page = response.get_data(as_text=True)
    inline = INLINE_SCRIPT.findall(page)
    assert inline, "the page has no inline script to check"
    for attributes in inline:
        assert f'nonce="{allowed.group(1)}"' in attributes, attributes
    assert set(re.findall(r'nonce="([^"]*)"', page)) == {allowed.group(1)}


def test_a_page_without_a_problem(client: FlaskClient) -> None:
    assert_scripts_allowed(client.get("/"))


def test_the_csrf_failure_page(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"email": "x@example.org"})
    assert response.status_code == 400
    assert_scripts_allowed(response)


def test_the_page_for_a_form_too_large_to_read(client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"email": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert_scripts_allowed(response)


@pytest.mark.parametrize(("path", "status"), [("/no-such-page", 404), ("/healthz", 405)])
def test_other_error_pages(client: FlaskClient, path: str, status: int) -> None:
    response = client.post(path) if status == 405 else client.get(path)
    assert response.status_code == status
    assert_scripts_allowed(response)
