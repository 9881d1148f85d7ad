"""The figures as a CSV file and as an OpenDocument spreadsheet, holding exactly what the page
shows (portal/pilot/shown.py: suppression already applied).

The spreadsheet is written here rather than with a library: it is a zip of two small XML
files (OpenDocument 1.2, part 3), plain typed cells and no formatting, which ElementTree
writes with correct escaping; docs/pilot.md says why no dependency was added for it."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name  # nosec: writing only

from portal.pilot.shown import COLUMNS, ShownRow

ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}
for _prefix, _uri in _NS.items():
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class Section:
    """One grouping of the figures: its sheet's name and what its first column holds."""

    name: str
    heading: str
    rows: list[ShownRow]


# A kind of organisation in words, for the downloads' "Kind of organisation" column.
KIND_WORDS = {"school": "School", "police": "Police", "health": "Health", "other": "Other"}


def headings(section: Section) -> list[str]:
    return [section.heading, "Kind of organisation", *(column.heading for column in COLUMNS)]


def values(row: ShownRow) -> list[float | str]:
    return [
        row.label,
        KIND_WORDS.get(row.kind, row.kind),
        *(row.cells[column.name].exported for column in COLUMNS),
    ]


def _safe_text(value: float | str) -> float | str:
    """A spreadsheet runs a CSV cell that starts with = + - @ as a formula: make it text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv(about: Sequence[tuple[str, str]], sections: Sequence[Section]) -> str:
    """UTF-8 with a byte-order mark, so that Excel reads "’" and "£" as such."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    for name, value in about:
        writer.writerow([name, _safe_text(value)])
    for section in sections:
        writer.writerow([])
        writer.writerow([section.name])
        writer.writerow(headings(section))
        for row in section.rows:
            writer.writerow([_safe_text(value) for value in values(row)])
    return out.getvalue()


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


def _cell(row: ET.Element, value: float | str) -> None:
    cell = ET.SubElement(row, _q("table", "table-cell"))
    if isinstance(value, str):
        cell.set(_q("office", "value-type"), "string")
    else:
        cell.set(_q("office", "value-type"), "float")
        cell.set(_q("office", "value"), repr(float(value)))
    ET.SubElement(cell, _q("text", "p")).text = str(value)


def _sheet(spreadsheet: ET.Element, name: str, rows: Sequence[Sequence[float | str]]) -> None:
    table = ET.SubElement(spreadsheet, _q("table", "table"), {_q("table", "name"): name})
    # The columns declared before the rows, as OpenDocument 1.2 (part 1, 9.1.2) requires.
    ET.SubElement(
        table,
        _q("table", "table-column"),
        {_q("table", "number-columns-repeated"): str(max(map(len, rows), default=1))},
    )
    for values_ in rows:
        row = ET.SubElement(table, _q("table", "table-row"))
        for value in values_:
            _cell(row, value)


def as_ods(about: Sequence[tuple[str, str]], sections: Sequence[Section]) -> bytes:
    document = ET.Element(_q("office", "document-content"), {_q("office", "version"): "1.2"})
    body = ET.SubElement(document, _q("office", "body"))
    spreadsheet = ET.SubElement(body, _q("office", "spreadsheet"))
    _sheet(spreadsheet, "About", [list(pair) for pair in about])
    for section in sections:
        _sheet(spreadsheet, section.name, [headings(section), *map(values, section.rows)])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        # The mimetype first and uncompressed: how applications recognise the format.
        package.writestr(zipfile.ZipInfo("mimetype"), ODS_MIMETYPE, zipfile.ZIP_STORED)
        package.writestr("META-INF/manifest.xml", _manifest(), zipfile.ZIP_DEFLATED)
        package.writestr(
            "content.xml",
            ET.tostring(document, encoding="utf-8", xml_declaration=True),
            zipfile.ZIP_DEFLATED,
        )
    return out.getvalue()


def _manifest() -> bytes:
    manifest = ET.Element(_q("manifest", "manifest"), {_q("manifest", "version"): "1.2"})
    for path, media_type in (("/", ODS_MIMETYPE), ("content.xml", "text/xml")):
        entry = ET.SubElement(manifest, _q("manifest", "file-entry"))
        entry.set(_q("manifest", "full-path"), path)
        entry.set(_q("manifest", "media-type"), media_type)
        if path == "/":
            entry.set(_q("manifest", "version"), "1.2")
    return bytes(ET.tostring(manifest, encoding="utf-8", xml_declaration=True))
