"""Turn a template's first validation error into one sentence and the line it is on.

pydantic says where an error is as a path through the parsed data, e.g.
("section", 2, "question", 4, "type"); the file's text is scanned to find the line of that
question's `type` key (or of its `[[section.question]]` header when the key is missing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from portal.forms_catalogue.template import ID_PATTERN, RULE_ERROR

Location = tuple[str | int, ...]
Table = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*\[\[?([^\[\]]+)\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*[.=]""")
_TYPE_NAMES = {
    "string_type": "text in quotes",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "float_type": "a number",
    "tuple_type": "a list",
    "list_type": "a list",
    "model_type": "a table",
    "dict_type": "a table",
}
_LIST_NOUNS = {"section": "sections", "question": "questions"}
_BOUNDS = {
    "greater_than": ("more than {}", "gt"),
    "greater_than_equal": ("{} or more", "ge"),
    "less_than": ("less than {}", "lt"),
    "less_than_equal": ("{} or less", "le"),
}


@dataclass(frozen=True)
class Problem:
    message: str
    line: int | None


def first_problem(error: ValidationError, data: dict[str, Any], text: str) -> Problem:
    """The first error pydantic found, as a sentence fragment and its line in `text`."""
    details = error.errors()[0]
    location: Location = tuple(details["loc"])
    if details["type"] == RULE_ERROR:
        location = location + tuple(details.get("ctx", {})["at"])
        message = str(details.get("ctx", {})["message"])
    else:
        table, rest = split_location(location)
        message = _describe(details, _subject(data, table), rest)
    return Problem(message, line_of(text, location))


def split_location(location: Location) -> tuple[Table, Location]:
    """Split a path into its TOML table (top level, a section or a question) and the rest."""
    if len(location) >= 4 and location[0] == "section" and location[2] == "question":
        return location[:4], location[4:]
    if len(location) >= 2 and location[0] == "section" and isinstance(location[1], int):
        return location[:2], location[2:]
    return (), location


def line_of(text: str, location: Location) -> int | None:
    """The line of the key `location` names, else of its table's header; None if neither."""
    table, rest = split_location(location)
    found = _scan(text).get(table)
    if found is None:
        return None
    key = rest[0] if rest and isinstance(rest[0], str) else None
    return found.keys.get(key, found.line) if key else found.line


@dataclass
class _TableLines:
    line: int | None
    keys: dict[str, int] = field(default_factory=dict)


def _scan(text: str) -> dict[Table, _TableLines]:
    """Where each section and question table starts, and the line of each of its keys."""
    tables: dict[Table, _TableLines] = {(): _TableLines(None)}
    current: Table | None = ()
    section = question = -1
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = re.sub(r"[\s\"']", "", header.group(1))
            if name == "section":
                section, question = section + 1, -1
                current = ("section", section)
            elif name == "section.question":
                question += 1
                current = ("section", section, "question", question)
            else:
                # A sub-table, e.g. [[section.question.choices]]: it is its parent's key.
                parent, child = _parent_of(name, section, question)
                if parent in tables:
                    tables[parent].keys.setdefault(child, number)
                current = None
                continue
            tables[current] = _TableLines(number)
            continue
        key = _KEY.match(line)
        if key and current is not None:
            tables[current].keys.setdefault(next(g for g in key.groups() if g), number)
    return tables


def _parent_of(name: str, section: int, question: int) -> tuple[Table, str]:
    if name.startswith("section.question."):
        return ("section", section, "question", question), name.split(".")[2]
    if name.startswith("section."):
        return ("section", section), name.split(".")[1]
    return (), name.split(".")[0]


def _subject(data: dict[str, Any], table: Table) -> str:
    """How the message names the table at fault: by its id when it has a usable one."""
    if not table:
        return "the template"
    section = _item(data.get("section"), table[1])
    section_id = _id_of(section)
    section_name = f'section "{section_id}"' if section_id else f"section {int(table[1]) + 1}"
    if len(table) == 2:
        return section_name
    question_id = _id_of(_item(section.get("question"), table[3]))
    if question_id:
        return f'question "{question_id}"'
    return f"question {int(table[3]) + 1} in {section_name}"


def _item(items: Any, index: str | int) -> dict[str, Any]:
    if isinstance(items, list) and isinstance(index, int) and index < len(items):
        found = items[index]
        if isinstance(found, dict):
            return found
    return {}


def _id_of(table: dict[str, Any]) -> str | None:
    value = table.get("id")
    return value if isinstance(value, str) and re.fullmatch(ID_PATTERN, value) else None


def _describe(details: ErrorDetails, subject: str, rest: Sequence[str | int]) -> str:
    kind = details["type"]
    key = _path(rest)
    shown = _shown(details.get("input"))
    if kind in ("missing", "too_short") and key in _LIST_NOUNS:
        return f"{subject} has no {_LIST_NOUNS[key]}"
    if kind == "missing":
        return f'{subject} is missing the key "{key}"'
    if kind == "extra_forbidden":
        return (
            f'{subject} has the key "{key}", which form templates do not use: remove it or '
            "correct its spelling"
        )
    if kind in ("enum", "literal_error"):
        expected = str(details.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"{subject} has {key} {shown}, which is not one of {expected}"
    if kind == "string_pattern_mismatch":
        if details.get("ctx", {}).get("pattern") == ID_PATTERN:
            return (
                f"{subject} has {key} {shown}, which is not lower-case letters and digits "
                "joined by single hyphens"
            )
        return f"{subject} has an empty {key}"
    if kind in ("too_short", "string_too_short"):
        return f"{subject} has an empty {key}"
    if kind in _TYPE_NAMES:
        return f"{subject} has {key} = {shown}, which should be {_TYPE_NAMES[kind]}"
    if kind in _BOUNDS:
        phrase, limit = _BOUNDS[kind]
        bound = details.get("ctx", {}).get(limit)
        return f"{subject} has {key} = {shown}, which should be {phrase.format(bound)}"
    reason = details["msg"][:1].lower() + details["msg"][1:]
    return f"{subject} has {key} = {shown}, which is not allowed ({reason})"


def _path(rest: Sequence[str | int]) -> str:
    parts = [f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest]
    return "".join(parts).lstrip(".")


def _shown(value: Any) -> str:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except TypeError:
        shown = str(value)
    return shown if len(shown) <= 40 else shown[:39] + "…"
