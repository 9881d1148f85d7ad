"""Logs: one JSON object per line on stderr, each record of a request carrying its id and the
signed-in person's internal id, one access line per request, and nothing of what was sent:
no child's name, no answer, no query string, no exception message."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from portal import create_app, db
from portal.config import Settings
from portal.forms_catalogue import QuestionType
from portal.models import AuditEvent
from portal.observability import configure_logging
from tests.factories import csrf_token
from tests.integration.test_contributions import SECRET_ANSWER, TEMPLATE, children_of, section_form
from tests.integration.test_metrics import with_sections
from tests.integration.test_pages import SECRET_MARKER, failing_app
from tests.support.confirming import confirm_if_asked

__all__ = ["failing_app"]  # a fixture: the app with a route that fails with a child's name
from tests.support.world import World, client_for, issue

CHILD = "Amelia Hart"  # a child of the world's case
FIELDS = {"time", "level", "logger", "message"}


def json_lines(captured: str) -> list[dict[str, Any]]:
    """Every line written, each of which must be a JSON object."""
    lines = [json.loads(line) for line in captured.splitlines() if line.strip()]
    assert lines and all(isinstance(line, dict) and FIELDS <= set(line) for line in lines)
    return lines


def access_line(lines: list[dict[str, Any]]) -> dict[str, Any]:
    found = [line for line in lines if line["logger"] == "portal.access"]
    assert len(found) == 1, lines
    return found[0]


def test_a_request_is_logged_as_json_with_its_id_and_person_and_nothing_it_carried(
    app: Flask, world: World, db_session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    # A line written from inside the request, as any of the portal's modules might.
    app.before_request(lambda: logging.getLogger("portal.test").warning("saving a draft"))
    sent = issue(app, world)
    teacher = client_for(app, world.teacher)
    section = next(
        s for s in TEMPLATE.sections if any(q.type is QuestionType.LONG_TEXT for q in s.questions)
    )
    path = f"/inbox/{sent}/answer/{section.id}"
    confirm_if_asked(teacher, sent)
    token = csrf_token(teacher.get(path).get_data(as_text=True))
    form = section_form(token, section, children_of(world), "later")
    form.add("note", f"About {CHILD}")
    capsys.readouterr()

    query = f"?child={quote(CHILD)}&note={quote(SECRET_ANSWER)}"
    response = teacher.post(path + query, data=form)

    assert response.status_code == 302
    written = capsys.readouterr().err
    lines = json_lines(written)
    teacher_details = (world.teacher.email, world.teacher.subject, world.teacher.display_name)
    for leak in (CHILD, "Amelia", SECRET_ANSWER, "child=", query[:8], *teacher_details):
        assert leak not in written
    request_id = response.headers["X-Request-Id"]
    line = access_line(lines)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line | {"time": "", "duration_ms": 0} == {
        "time": "",
        "level": "INFO",
        "logger": "portal.access",
        "message": "POST answer.section 302",
        "request_id": request_id,
        "user_id": str(world.teacher.id),
        "method": "POST",
        "endpoint": "answer.section",
        "status": 302,
        "duration_ms": 0,
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    inside = next(line for line in lines if line["logger"] == "portal.test")
    assert inside["request_id"] == request_id and inside["user_id"] == str(world.teacher.id)
    # The audit trail records the same id: a log line and an audit event can be matched.
    audited = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.request_id == request_id))
    assert audited.all()


def test_an_anonymous_request_has_no_person(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get(f"/accessibility?child={quote(CHILD)}")
    line = access_line(json_lines(capsys.readouterr().err))
    assert "user_id" not in line and line["endpoint"] == "pages.accessibility"


def test_an_unknown_address_or_method_is_logged_without_its_path(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.get(f"/people-named/{quote(CHILD)}")
    client.open("/", method="BREW")
    written = capsys.readouterr().err
    assert "Amelia" not in written and "BREW" not in written
    lines = [line for line in json_lines(written) if line["logger"] == "portal.access"]
    assert [(line["method"], line["status"], "endpoint" in line) for line in lines] == [
        ("GET", 404, False),
        ("OTHER", 405, False),
    ]


def test_a_server_error_is_logged_by_type_and_frames_and_its_page_gives_the_reference(
    failing_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = failing_app.test_client().get(f"/test-only/explode?child={quote(CHILD)}")

    assert response.status_code == 500
    request_id = response.headers["X-Request-Id"]
    page = response.get_data(as_text=True)
    assert f'quote this reference: <span class="govuk-!-font-weight-bold">{request_id}' in page
    written = capsys.readouterr().err
    assert SECRET_MARKER not in written and "Amelia" not in written and "child=" not in written
    lines = json_lines(written)
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["request_id"] == request_id
    assert error["message"].startswith(
        f"unhandled RuntimeError on GET /test-only/explode (request {request_id})"
    )
    assert "in explode\n" in error["message"]  # where it happened
    assert access_line(lines)["level"] == "WARNING" and access_line(lines)["status"] == 500


def test_a_client_error_page_gives_no_reference(client: Any) -> None:
    assert "quote this reference" not in client.get("/no-such-page").get_data(as_text=True)


def app_behind(settings: Settings, hops: int) -> Flask:
    return create_app(with_sections(settings, security={"proxy_hops": hops}), check_database=False)


@pytest.mark.parametrize(
    ("hops", "incoming", "kept"),
    [
        (0, "edge-5f2c9a", False),  # no proxy trusted: a client could choose its own id
        (1, "edge-5f2c9a", True),
        (1, "0123456789abcdef0123456789abcdef", True),  # nginx's $request_id
        (1, "a" * 64, True),
        (1, "a" * 65, False),
        (1, "edge 5f2c9a", False),
        (1, "edge_5f2c9a", False),
        (1, '"}{"level":"ERROR', False),
        (1, "", False),
    ],
)
def test_a_proxys_request_id_is_used_only_when_the_proxy_is_trusted_and_the_id_well_formed(
    settings: Settings, hops: int, incoming: str, kept: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    app = app_behind(settings, hops)
    capsys.readouterr()
    response = app.test_client().get("/accessibility", headers={"X-Request-Id": incoming})
    request_id = response.headers["X-Request-Id"]
    if kept:
        assert request_id == incoming
    else:
        assert request_id != incoming and re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert access_line(json_lines(capsys.readouterr().err))["request_id"] == request_id
    db.database(app).engine.dispose()


def test_text_format_is_one_readable_line_per_record(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(
        with_sections(settings, observability={"log_format": "text"}), check_database=False
    )
    try:
        capsys.readouterr()
        response = app.test_client().get("/accessibility?child=Amelia")
        written = capsys.readouterr().err
        request_id = response.headers["X-Request-Id"]
        pattern = rf"\S+Z INFO portal.access \[{request_id}\] GET pages.accessibility 200 [\d.]+ ms"
        assert re.fullmatch(pattern, written.strip())
    finally:
        db.database(app).engine.dispose()
        configure_logging("json")  # as the tests that follow expect


def test_the_servers_own_records_lose_any_query_string_they_quote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # gunicorn names a request that failed while streaming by its whole URI, and quotes bad
    # request lines in its warnings: the query string must not reach the log.
    configure_logging("json")
    capsys.readouterr()
    server = logging.getLogger("gunicorn.error")
    server.error("Error handling request %s", f"/requests/NCC-1/answer?child={quote(CHILD)}")
    server.warning("Invalid request from ip=127.0.0.1: bad line 'GET /x?name=Amelia HTTP/1.1'")
    logging.getLogger("portal.test").info("a portal record about /x?kept=as-written")

    lines = json_lines(capsys.readouterr().err)

    assert [line["message"] for line in lines] == [
        "Error handling request /requests/NCC-1/answer?…",
        "Invalid request from ip=127.0.0.1: bad line 'GET /x?… HTTP/1.1'",
        "a portal record about /x?kept=as-written",
    ]
