"""A stuck query in a web request ends as the "service unavailable" page after
[database] statement_timeout_seconds (gunicorn's threads set no limit of their own), while
commands and workers, outside any request, are not limited."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from flask import Flask

from portal import db
from portal.auth.policy import PUBLIC, access
from portal.config import Settings
from tests.integration.test_metrics import with_sections


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_sections(settings, database={"statement_timeout_seconds": 1})


def test_a_stuck_query_in_a_request_is_cancelled_and_answered_as_unavailable(app: Flask) -> None:
    @app.get("/test-only/stuck")
    @access(PUBLIC)
    def stuck() -> str:
        db.session().execute(sa.text("SELECT pg_sleep(5)"))
        return "finished"

    started = time.monotonic()
    response = app.test_client().get("/test-only/stuck")
    took = time.monotonic() - started

    assert response.status_code == 503
    assert "Sorry, the service is unavailable" in response.get_data(as_text=True)
    assert took < 4, took  # cancelled at about 1 s, not left to run its 5 s


def test_work_outside_a_request_is_not_limited(app: Flask) -> None:
    with app.app_context(), db.database(app).sessions() as session:
        slept = session.execute(sa.text("SELECT 'slept' FROM pg_sleep(1.5)")).scalar_one()
    assert slept == "slept"
