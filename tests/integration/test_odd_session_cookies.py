"""A session cookie the portal never issued is no session, whatever it holds: a non-ASCII
one once raised UnicodeEncodeError while the session was opened, a bare 500 that anyone
could send (and set off the alerts for server errors with)."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient


@pytest.mark.parametrize("value", ["été", "x" * 99 + "é", "a\x7fb"])
def test_an_odd_cookie_is_no_session(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    client.set_cookie("portal-session", value)
    with caplog.at_level(logging.INFO):
        start = client.get("/")
        inbox = client.get("/inbox")
    assert start.status_code == 200
    assert inbox.status_code == 302 and "/sign-in" in inbox.headers["Location"]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
