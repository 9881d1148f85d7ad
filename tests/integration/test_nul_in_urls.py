"""A NUL byte in a URL's path is a 404 on every route, before anything reaches the database
(PostgreSQL refuses NUL in text: it once answered 503 and logged a database error, so anyone
could set off the alerts for 5xx answers)."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import OrganisationKind, Role
from tests.factories import make_organisation, make_user, sign_in

REPORTED = ["/inbox/DR-%00AAAAAAA", "/sign-in/start/x%00y"]


def _paths_with_nul(app: Flask) -> list[str]:
    """Every route's path with each of its variables holding a NUL byte (or one after it, for
    a route without variables)."""
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            paths.append(re.sub(r"<(?:[^:>]+:)?([^>]+)>", "x%00y", rule.rule))
        else:
            paths.append(rule.rule.rstrip("/") + "/%00")
    return sorted(set(paths))


@pytest.mark.parametrize("path", REPORTED)
def test_the_reported_paths_are_not_found(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    with caplog.at_level(logging.INFO):
        response = client.get(path)
    assert response.status_code == 404
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_every_route_answers_404_signed_in_or_not(
    app: Flask, db_session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    worker = make_user(
        db_session, make_organisation(db_session, OrganisationKind.COUNCIL), Role.SOCIAL_WORKER
    )
    signed_in = app.test_client()
    sign_in(app, signed_in, worker)
    answers = {}
    with caplog.at_level(logging.INFO):
        for client in (app.test_client(), signed_in):
            for path in _paths_with_nul(app):
                for method in ("GET", "POST"):
                    status = client.open(path, method=method).status_code
                    if status != 404:
                        answers[(method, path)] = status
    assert answers == {}
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
