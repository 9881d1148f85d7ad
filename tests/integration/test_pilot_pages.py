"""The pilot's pages: the figures for the partner engagement officer (tables, charts, filters,
suppression), the CSV and ODS downloads holding the page's numbers, and the audit trail."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from html import unescape
from pathlib import Path
from xml.etree import ElementTree as ET  # noqa: N817

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.crypto import FileKeyring
from portal.crypto.records import RecordCipher
from portal.models import (
    AuditEvent,
    Contribution,
    DelegationRequest,
    Feedback,
    OrganisationKind,
    Role,
)
from portal.pilot.figures import Filters, Grouping, figures_by
from portal.pilot.pages import KIND_NAMES
from portal.pilot.periods import Month, Period, month_name
from portal.pilot.shown import COUNTS
from tests.conftest import test_settings
from tests.factories import csrf_token, make_organisation, make_user, sign_in
from tests.support.pilot_data import TODAY, PilotData, build_pilot_data

PERIOD = {"first": "2026-01", "last": "2026-04"}
JANUARY_TO_APRIL_PERIOD = Period(Month(2026, 1), Month(2026, 4))
COUNT_FIELD = {
    "Requests issued": "issued",
    "Opened by the partner": "opened",
    "Answered in the portal": "answered",
    "Returned for more information": "returned",
    "Accepted": "accepted",
    "Rejected": "rejected",
    "Withdrawn": "withdrawn",
    "Declined: not this child": "not_this_child",
    "Answered outside the portal": "answered_elsewhere",
}
ODS = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, engine: Engine, keyring_path: Path, audit_key_path: Path
) -> Settings:
    """As the shared fixture, with [pilot] suppress_below from the test's parameter (else 5)."""
    return test_settings(
        engine.url.render_as_string(False),
        keyring_path,
        audit={"signing_key_file": str(audit_key_path)},
        pilot={"suppress_below": getattr(request, "param", 5)},
    )


@pytest.fixture
def data(db_session: Session, keyring: FileKeyring) -> PilotData:
    return build_pilot_data(db_session, RecordCipher(keyring, db_session))


@pytest.fixture
def officer(app: Flask, db_session: Session, data: PilotData) -> FlaskClient:
    client = app.test_client()
    council = make_organisation(db_session, OrganisationKind.COUNCIL, "Pilot Council")
    sign_in(app, client, make_user(db_session, council, Role.PARTNER_ENGAGEMENT_OFFICER))
    return client


def table(html: str, caption: str) -> dict[str, list[str]]:
    """A table of the page by its caption: each row's heading → its cells' text."""
    found = re.search(
        rf"<caption[^>]*>{re.escape(caption)}</caption>(.*?)</table>", html, re.DOTALL
    )
    assert found, caption
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.DOTALL):
        head = re.search(r'<th scope="row"[^>]*>(.*?)</th>', row, re.DOTALL)
        if head:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
            rows[unescape(head.group(1).strip())] = [unescape(c.strip()) for c in cells]
    return rows


def headings(html: str, caption: str) -> list[str]:
    found = re.search(
        rf"<caption[^>]*>{re.escape(caption)}</caption>(.*?)</thead>", html, re.DOTALL
    )
    assert found, caption
    names = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', found.group(1), re.DOTALL)
    return [unescape(name) for name in names[1:]]


def same(page_text: str, exported: str) -> bool:
    """A page's cell ("1,234", "75%", "fewer than 5") against a file's ("1234", "75.0")."""
    try:
        return float(page_text.replace(",", "").rstrip("%")) == float(exported)
    except ValueError:
        return page_text == exported


def test_the_figures_page(officer: FlaskClient) -> None:
    response = officer.get("/pilot", query_string=PERIOD)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    months = table(html, "Requests by month issued")
    # Six issued in January (shown); four opened, fewer than five (held back).
    assert months["January 2026"][:2] == ["6", "fewer than 5"]
    assert months["March 2026"][0] == "fewer than 5"
    assert table(html, "Requests in the whole period")["All"][0] == "8"
    # Each chart: an SVG with a title, a caption sentence, and its table.
    assert html.count("<svg") == 3 and html.count("<figcaption") == 3
    assert "how many were issued and how many answered in the portal" in html
    assert "style=" not in html.split("<svg", 1)[1].split("</svg>", 1)[0]


@pytest.mark.parametrize("settings", [1], indirect=True)
def test_the_page_shows_every_figure_when_nothing_is_held_back(officer: FlaskClient) -> None:
    html = officer.get("/pilot", query_string=PERIOD).get_data(as_text=True)
    january = dict(
        zip(
            headings(html, "Requests by month issued"),
            table(html, "Requests by month issued")["January 2026"],
            strict=True,
        )
    )
    assert january["Opened by the partner"] == "4"
    assert january["Answered outside the portal"] == "1"
    rates = dict(
        zip(
            headings(html, "Rates, feedback and who took part, by month issued"),
            table(html, "Rates, feedback and who took part, by month issued")["January 2026"],
            strict=True,
        )
    )
    # (3 answered + 1 not this child) ÷ 4 opened: 100% would say that none of those opened
    # was left unfinished, a count of 0, which even threshold 1 holds back ("fewer than 1").
    assert rates["Completion rate (%)"] == "not shown"
    assert rates["User satisfaction (%)"] == "50%"
    assert rates["Digital take-up (%)"] == "75%"
    assert rates["Answered by the due date (%)"] == "67%"
    assert rates["Returns per request answered"] == "0.33"
    times = dict(
        zip(
            headings(html, "Hours from issue to each step, by month issued"),
            table(html, "Hours from issue to each step, by month issued")["January 2026"],
            strict=True,
        )
    )
    assert times["Median hours to first opened"] == "2.5"
    assert times["90th percentile hours to first answer sent"] == "86.4"  # 3.6 days


def test_filters(officer: FlaskClient, data: PilotData) -> None:
    html = officer.get("/pilot", query_string=PERIOD | {"kind": "police"}).get_data(as_text=True)
    assert "Requests issued in January 2026 to April 2026 to police" in html
    assert list(table(html, "Requests by organisation")) == ["Figures Police"]
    html = officer.get(
        "/pilot", query_string=PERIOD | {"organisation": str(data.school.id)}
    ).get_data(as_text=True)
    assert list(table(html, "Requests by organisation")) == ["Figures Primary"]


@pytest.mark.parametrize(
    "query",
    [
        {"first": "2026-04", "last": "2026-01"},
        {"first": "January"},
        {"kind": "council"},
        {"organisation": "not-an-organisation"},
    ],
)
def test_filters_it_cannot_read_get_a_message(officer: FlaskClient, query: dict[str, str]) -> None:
    response = officer.get("/pilot", query_string=query)
    assert response.status_code == 400
    assert "govuk-error-summary" in response.get_data(as_text=True)


def _download(officer: FlaskClient, file_format: str) -> bytes:
    token = csrf_token(officer.get("/pilot").get_data(as_text=True))
    response = officer.post(f"/pilot/figures.{file_format}", data=PERIOD | {"csrf_token": token})
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    return response.get_data()


def _csv_section(text: str, name: str) -> tuple[list[str], dict[str, list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    start = rows.index([name])
    names, found = rows[start + 1], {}
    for row in rows[start + 2 :]:
        if not row:
            break
        found[row[0]] = row
    return names, found


def _ods_sheet(content: bytes, name: str) -> tuple[list[str], dict[str, list[str]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        assert package.namelist()[0] == "mimetype"
        assert package.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        document = ET.fromstring(package.read("content.xml"))  # noqa: S314 - our own output
    sheet = next(t for t in document.iter(f"{ODS}table") if t.get(f"{ODS}name") == name)
    rows = [
        [cell.findtext(f"{TEXT}p") or "" for cell in row] for row in sheet.iter(f"{ODS}table-row")
    ]
    return rows[0], {row[0]: row for row in rows[1:]}


SECTIONS = {
    "All": "in the whole period",
    "By month": "by month issued",
    "By organisation": "by organisation",
    "By kind": "by kind of organisation",
}


def _captions(section: str) -> tuple[str, ...]:
    words = SECTIONS[section]
    return (
        f"Requests {words}",
        f"Rates, feedback and who took part{',' if section != 'All' else ''} {words}",
        f"Hours from issue to each step{',' if section != 'All' else ''} {words}",
    )


@pytest.mark.parametrize("settings", [1, 5], indirect=True)
@pytest.mark.parametrize("file_format", ["csv", "ods"])
def test_the_downloads_hold_the_pages_numbers(
    officer: FlaskClient, db_session: Session, file_format: str, settings: Settings
) -> None:
    html = officer.get("/pilot", query_string=PERIOD).get_data(as_text=True)
    content = _download(officer, file_format)
    for section in SECTIONS:
        if file_format == "csv":
            names, rows = _csv_section(content.decode("utf-8-sig"), section)
        else:
            names, rows = _ods_sheet(content, section)
        compared = 0
        for caption in _captions(section):
            for label, cells in table(html, caption).items():
                for heading, text in zip(headings(html, caption), cells, strict=True):
                    exported = rows[label][names.index(heading)]
                    assert same(text, exported), (section, label, heading, text, exported)
                    compared += 1
        assert compared > 0, section
    if settings.pilot.suppress_below != 5:
        return
    names, rows = (
        _csv_section(content.decode("utf-8-sig"), "By month")
        if file_format == "csv"
        else _ods_sheet(content, "By month")
    )
    assert rows["January 2026"][names.index("Requests issued")] in ("6", "6.0")
    assert rows["January 2026"][names.index("Opened by the partner")] == "fewer than 5"
    event = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "pilot_figures_exported")
    ).one()
    assert event.details == {
        "format": file_format,
        "first_month": "2026-01",
        "last_month": "2026-04",
        "kind": None,
        "organisation": None,
    }


def test_no_held_back_count_is_the_total_less_the_shown_ones(
    officer: FlaskClient, db_session: Session
) -> None:
    """Threshold 5 on the constructed data: 8 requests, 6 to the school and 2 to the police.
    Holding back only the police's 2 would leave it as 8 − 6."""
    html = officer.get("/pilot", query_string=PERIOD).get_data(as_text=True)
    found = figures_by(db_session, Filters(JANUARY_TO_APRIL_PERIOD), TODAY, tuple(Grouping))
    true = {
        "By month": {month_name(row.key): row for row in found[Grouping.MONTH]},
        "By organisation": {row.key: row for row in found[Grouping.ORGANISATION]},
        "By kind": {KIND_NAMES[OrganisationKind(row.key)]: row for row in found[Grouping.KIND]},
    }
    total = table(html, "Requests in the whole period")["All"]
    names = headings(html, "Requests in the whole period")
    checked = 0
    for section, rows in true.items():
        page = table(html, _captions(section)[0])
        for column in COUNTS:
            field = COUNT_FIELD[column.name]
            shown_total = total[names.index(column.name)]
            if shown_total.startswith("fewer"):
                continue
            cells = {label: page[label][names.index(column.name)] for label in rows}
            hidden = [label for label, text in cells.items() if text.startswith("fewer")]
            rest = int(shown_total.replace(",", "")) - sum(
                int(text.replace(",", ""))
                for text in cells.values()
                if not text.startswith("fewer")
            )
            for label in hidden:
                checked += 1
                assert getattr(rows[label], field) != rest, (section, column.name, label)
    assert checked >= 4  # the police's and the school's requests issued, in two groupings
    by_organisation = table(html, "Requests by organisation")
    assert by_organisation["Figures Primary"][0] == "fewer than 5"  # 6, held back for the 2
    assert by_organisation["Figures Police"][0] == "fewer than 5"


def test_the_officer_reads_the_partners_comments_audited(
    officer: FlaskClient, db_session: Session, keyring: FileKeyring, data: PilotData
) -> None:
    cipher = RecordCipher(keyring, db_session)
    rated = db_session.scalars(
        sa.select(Feedback).join(Contribution).order_by(Contribution.submitted_at)
    ).first()
    assert rated is not None
    cipher.seal_text(rated, "comment_enc", "The <upload> page was slow")
    db_session.flush()
    html = officer.get("/pilot/feedback", query_string=PERIOD).get_data(as_text=True)
    assert "They are free text from partners" in html
    assert "The &lt;upload&gt; page was slow" in html
    assert "Figures Primary" in html and "January 2026" in html
    references = db_session.scalars(sa.select(DelegationRequest.reference)).all()
    assert not any(reference in html for reference in references)
    (event,) = db_session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "feedback_read")
    ).all()
    assert event.details == {
        "first_month": "2026-01",
        "last_month": "2026-04",
        "kind": None,
        "organisation": None,
        "comments": 1,
    }
    assert "page was slow" not in str(event.details)
    police = officer.get("/pilot/feedback", query_string=PERIOD | {"kind": "police"})
    assert "No comments were given" in police.get_data(as_text=True)
    bad = officer.get("/pilot/feedback", query_string={"first": "January"})
    assert bad.status_code == 400 and "govuk-error-summary" in bad.get_data(as_text=True)
