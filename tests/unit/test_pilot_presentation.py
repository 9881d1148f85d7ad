"""The pilot figures' pure parts: UK months and periods, the small-number rules, the CSV's
formula guard, the spreadsheet's shape, and the charts' escaping (no database)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess  # nosec: LibreOffice, fixed arguments
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree as ET  # noqa: N817

import pytest

from portal.pilot import charts, export
from portal.pilot.figures import Grouping, Row, Step, Times
from portal.pilot.filtering import month_choices, read_filters
from portal.pilot.periods import Month, Period, month_name
from portal.pilot.shown import COLUMNS, Cell, count_cell, held_back, shown, shown_groupings


def test_months_and_periods_are_uk_months() -> None:
    assert Month.parse("2026-03") == Month(2026, 3)
    for bad in ("2026-13", "2026-3", "March", "1999-01", ""):
        assert Month.parse(bad) is None
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2026, 1).minus(1) == Month(2025, 12)
    assert month_name("2026-03") == "March 2026"
    summer = Period(Month(2026, 4), Month(2026, 6))
    # British Summer Time: the UK's 1 April starts at 23:00 UTC on 31 March.
    assert summer.starts_at == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)
    assert summer.ends_at == datetime(2026, 6, 30, 23, 0, tzinfo=UTC)
    assert summer.name == "April 2026 to June 2026"
    assert Period(Month.of(date(2026, 1, 9)), Month(2026, 1)).name == "January 2026"


def test_the_filters_accept_exactly_the_months_they_offer() -> None:
    today = date(2026, 12, 6)
    offered = [value for value, _name in month_choices(today)]
    assert offered[0] == "2026-12" and offered[-1] == "2024-01" and len(offered) == 36
    for month in offered:
        assert read_filters({"first": month}, today, []).errors == {}
    for month in ("2023-12", "2020-01", "2027-01"):
        assert read_filters({"first": month}, today, []).errors == {
            "first": "Select a month from the list"
        }


def _row(**counts: int) -> Row:
    row = Row("2026-01")
    for name, value in counts.items():
        setattr(row, name, value)
    return row


def _cells(row: Row, threshold: int = 5) -> dict[str, Cell]:
    return shown([row], threshold, lambda _row: "January 2026")[0].cells


def test_small_counts_are_held_back() -> None:
    assert count_cell(0, 5) == Cell(None, "fewer than 5")
    assert count_cell(4, 5) == Cell(None, "fewer than 5")
    assert count_cell(5, 5) == Cell(5, "5")
    assert count_cell(12_345, 5) == Cell(12_345, "12,345")
    cells = _cells(_row(issued=40, opened=3, active_people=2))
    assert cells["Requests issued"].text == "40"
    assert cells["Opened by the partner"].text == "fewer than 5"
    assert cells["Active people at partners"].text == "2"  # staff, not children


def test_a_rate_never_reveals_a_count_held_back() -> None:
    # 3 of 40 answered elsewhere would reveal the 3: take-up is not shown.
    cells = _cells(_row(answered=40, answered_elsewhere=3))
    assert cells["Digital take-up"] == Cell(None, "not shown")
    cells = _cells(_row(answered=30, answered_elsewhere=10, opened=50, not_this_child=5))
    assert cells["Digital take-up"] == Cell(75, "75%")
    assert cells["Completion rate"] == Cell(70, "70%")  # (30 + 5) ÷ 50
    assert _cells(_row(returns=6, answered=30))["Returns per request answered"].text == "0.20"


def test_a_rate_is_held_back_when_a_count_it_is_made_of_is() -> None:
    # (30 + 2) ÷ 40 = 80% would give away the 2 "not this child" the table holds back.
    cells = _cells(_row(issued=50, opened=40, answered=30, not_this_child=2))
    assert cells["Declined: not this child"].text == "fewer than 5"
    assert cells["Completion rate"] == Cell(None, "not shown")
    assert _cells(_row(opened=40, answered=30, not_this_child=5))["Completion rate"].text == "88%"


def test_none_is_never_shown_as_0_or_100_percent() -> None:
    # 100% says that none were left over; 0% that none got there: both counts under 5.
    assert _cells(_row(opened=20, answered=20))["Completion rate"].text == "not shown"
    assert _cells(_row(responses=10, satisfied=0))["User satisfaction"].text == "not shown"
    assert _cells(_row(responses=10, satisfied=5))["User satisfaction"].text == "50%"


def test_take_up_counts_a_request_answered_both_ways_once() -> None:
    # 20 answered in the portal, of which 5 were returned and then answered elsewhere, and
    # 10 more answered only elsewhere: 15 only in the portal, of 30 answered at all.
    row = _row(answered=20, answered_elsewhere=15, answered_both_ways=5)
    assert _cells(row)["Digital take-up"] == Cell(50, "50%")


def _grouped(issued: dict[str, int], kinds: dict[str, str]) -> dict[Grouping, list[Row]]:
    def row(key: str, count: int, kind: str = "") -> Row:
        found = Row(key, kind)
        found.issued = count
        return found

    by_kind: dict[str, int] = {}
    for name, count in issued.items():
        by_kind[kinds[name]] = by_kind.get(kinds[name], 0) + count
    return {
        Grouping.TOTAL: [row("", sum(issued.values()))],
        Grouping.MONTH: [row("2026-01", sum(issued.values()))],
        Grouping.ORGANISATION: [row(name, n, kinds[name]) for name, n in issued.items()],
        Grouping.KIND: [row(kind, n, kind) for kind, n in by_kind.items()],
    }


def test_one_small_count_in_a_grouping_holds_back_the_next_smallest() -> None:
    found = _grouped(
        {"Ash": 20, "Beech": 9, "Cedar": 2, "Police A": 30, "Police B": 40},
        {
            "Ash": "school",
            "Beech": "school",
            "Cedar": "school",
            "Police A": "police",
            "Police B": "police",
        },
    )
    held = held_back(found, 5)
    organisations = {
        row.key: "issued" in kept
        for row, kept in zip(found[Grouping.ORGANISATION], held[Grouping.ORGANISATION], strict=True)
    }
    # Cedar's 2 is small; Beech's 9, the next smallest school, goes too (else 31 − 20 − 9
    # among the schools); the police's are shown: two cells are hidden among the organisations.
    assert organisations == {
        "Ash": False,
        "Beech": True,
        "Cedar": True,
        "Police A": False,
        "Police B": False,
    }
    rows = shown_groupings(found, 5, {grouping: lambda row: row.key for grouping in Grouping})
    assert [row.cells["Requests issued"].text for row in rows[Grouping.KIND]] == ["31", "70"]


def test_a_kind_of_one_small_and_one_large_organisation() -> None:
    # Schools 2 + 8, police 50: the 8 is held back for the 2, both among all organisations
    # and within the schools (the schools' 10 is shown).
    found = _grouped(
        {"Ash": 2, "Beech": 8, "Police": 50},
        {"Ash": "school", "Beech": "school", "Police": "police"},
    )
    held = held_back(found, 5)
    assert ["issued" in kept for kept in held[Grouping.ORGANISATION]] == [True, True, False]
    assert ["issued" in kept for kept in held[Grouping.KIND]] == [False, False]


def test_times_need_enough_requests() -> None:
    row = _row()
    row.times[Step.OPENED] = Times(measured=4, median=3600.0, ninetieth=7200.0)
    row.times[Step.SENT] = Times(measured=5, median=9000.0, ninetieth=36000.0)
    cells = _cells(row)
    assert cells["Median hours to first opened"].text == "not shown"
    assert cells["Median hours to first answer sent"] == Cell(2.5, "2.5")
    assert cells["90th percentile hours to first answer sent"] == Cell(10.0, "10.0")
    assert cells["Median hours to accepted"].text == "not shown"


def _section(label: str) -> export.Section:
    row = shown([_row(issued=8)], 5, lambda _row: label)
    return export.Section("By organisation", "Organisation", row)


def test_the_csv_never_hands_a_spreadsheet_a_formula() -> None:
    text = export.as_csv([("Pilot figures", "=HYPERLINK(1)")], [_section("=cmd|' /C calc'!A0")])
    assert text.startswith("\ufeff")  # so that Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["Pilot figures", "'=HYPERLINK(1)"]
    assert rows[4][:3] == ["'=cmd|' /C calc'!A0", "", "8"]
    assert rows[3] == ["Organisation", "Kind of organisation", *(c.heading for c in COLUMNS)]
    assert "Digital take-up (%)" in rows[3]


def test_the_spreadsheet_is_an_opendocument_package() -> None:
    content = export.as_ods([("Pilot figures", "a <b> & c")], [_section("Ash & Oak <School>")])
    with zipfile.ZipFile(io.BytesIO(content)) as package:
        first = package.infolist()[0]
        assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
        assert "META-INF/manifest.xml" in package.namelist()
        document = ET.fromstring(package.read("content.xml"))  # noqa: S314 - our own output
    table = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
    office = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
    sheets = {t.get(f"{table}name"): t for t in document.iter(f"{table}table")}
    assert list(sheets) == ["About", "By organisation"]
    # Each sheet declares its columns before its rows (OpenDocument 1.2, 9.1.2).
    first = list(sheets["By organisation"])[0]
    assert first.tag == f"{table}table-column"
    assert first.get(f"{table}number-columns-repeated") == str(len(COLUMNS) + 2)
    cells = list(list(sheets["By organisation"])[2])
    assert "".join(cells[0].itertext()) == "Ash & Oak <School>"
    assert (cells[2].get(f"{office}value-type"), cells[2].get(f"{office}value")) == (
        "float",
        "8.0",
    )


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", 'Ash "&" Oak'])
def test_a_chart_escapes_what_it_draws(name: str) -> None:
    series = [charts.Series("Issued", [Cell(6, "6")]), charts.Series("Answered", [Cell(None, "n")])]
    drawn = str(charts.bar_chart("chart-x", "A <title>", [name], series))
    assert "<script>" not in drawn
    assert ">A &lt;title&gt;</title>" in drawn
    assert drawn.count("<rect") == 3  # two in the legend, one bar: the held-back value has none
    assert "style=" not in drawn
    ET.fromstring(drawn)  # noqa: S314 - well-formed XML


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_spreadsheet(tmp_path: Path) -> None:
    """LibreOffice Calc opens the file and finds the figures where the page has them."""
    row = Row("school")
    row.issued, row.kind = 8, "school"
    section = export.Section(
        "By kind", "Kind of organisation", shown([row], 5, lambda _r: "Schools")
    )
    (tmp_path / "figures.ods").write_bytes(
        export.as_ods([("Pilot figures", "a <b> & c")], [section])
    )
    # The last option (-1): every sheet to a CSV file of its own (LibreOffice 7.2 and later).
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir",
            str(tmp_path),
            str(tmp_path / "figures.ods"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    about = list(csv.reader(io.StringIO((tmp_path / "figures-About.csv").read_text("utf-8"))))
    assert about == [["Pilot figures", "a <b> & c"]]
    rows = list(csv.reader(io.StringIO((tmp_path / "figures-By kind.csv").read_text("utf-8"))))
    assert rows[0][:3] == ["Kind of organisation", "Kind of organisation", "Requests issued"]
    assert rows[1][:4] == ["Schools", "School", "8", "fewer than 5"]
