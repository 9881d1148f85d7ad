"""Loading the form templates in a directory into a catalogue, all or nothing.

Every problem is reported as one sentence naming the file and, where it can, the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from portal.config import PROJECT_ROOT
from portal.forms_catalogue.problems import first_problem, line_of
from portal.forms_catalogue.template import FormTemplate

_TOML_POSITION = re.compile(r"^(?P<what>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


class CatalogueError(Exception):
    """A form template file cannot be used; the message names the file and what to change."""


class TemplateNotFound(LookupError):
    """No template has that id (and version): the request names one the catalogue lacks."""


class Catalogue:
    """Every version of every form template, looked up by id and version."""

    def __init__(self, templates: Iterable[FormTemplate]) -> None:
        self._templates: dict[tuple[str, int], FormTemplate] = {}
        for template in sorted(templates, key=lambda found: (found.id, found.version)):
            if (template.id, template.version) in self._templates:
                raise ValueError(f"{template.id} version {template.version} is given twice")
            self._templates[template.id, template.version] = template

    def get(self, template_id: str, version: int) -> FormTemplate:
        try:
            return self._templates[template_id, version]
        except KeyError:
            raise TemplateNotFound(f"No form template {template_id} version {version}") from None

    def latest(self, template_id: str) -> FormTemplate:
        versions = [found for found in self if found.id == template_id]
        if not versions:
            raise TemplateNotFound(f"No form template {template_id}")
        return versions[-1]

    def latest_of_each(self) -> list[FormTemplate]:
        """The latest version of every template, by title."""
        latest = {found.id: found for found in self}  # iteration is in version order
        return sorted(latest.values(), key=lambda found: (found.title, found.id))

    def choices_for(self, organisation_kind: str) -> list[FormTemplate]:
        """The latest version of each template meant for this kind of organisation, by title."""
        return [
            found
            for found in self.latest_of_each()
            if organisation_kind in found.for_organisation_kinds
        ]

    def __iter__(self) -> Iterator[FormTemplate]:
        """Every template version, by id and then version."""
        return iter(self._templates.values())

    def __len__(self) -> int:
        return len(self._templates)


def load_catalogue(directory: Path) -> Catalogue:
    """Read and check every `*.toml` file in `directory`, or raise `CatalogueError`."""
    if not directory.is_dir():
        raise CatalogueError(
            f"The form templates directory {_shown(directory)} does not exist: restore it from "
            "git or correct the path."
        )
    paths = sorted(
        path
        for path in directory.glob("*.toml")
        if path.is_file() and not path.name.startswith(".")
    )
    if not paths:
        raise CatalogueError(
            f"The form templates directory {_shown(directory)} has no .toml files: restore "
            "them from git or correct the path."
        )
    return Catalogue(load_template(path) for path in paths)


def load_template(path: Path) -> FormTemplate:
    """Read and check one template file, or raise `CatalogueError`."""
    text = _read_text(path)
    data = _parse(path, text)
    try:
        template = FormTemplate.model_validate(data)
    except ValidationError as error:
        problem = first_problem(error, data, text)
        raise CatalogueError(_sentence(path, problem.line, problem.message)) from None
    expected = f"{template.id}.v{template.version}.toml"
    if path.name != expected:
        raise CatalogueError(
            _sentence(
                path,
                line_of(text, ("id",)),
                f'the template has id "{template.id}" and version {template.version}, so its '
                f"file must be named {expected}",
            )
        )
    return template


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogueError(_sentence(path, None, "the file is not UTF-8 text")) from None
    except OSError as error:
        raise CatalogueError(
            _sentence(path, None, f"the file cannot be read ({error.strerror or error})")
        ) from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        reason = str(error)
        position = _TOML_POSITION.match(reason)
        line = int(position["line"]) if position else None
        if position:
            reason = f"{position['what']}, at column {position['column']}"
        reason = reason[:1].lower() + reason[1:]
        raise CatalogueError(
            _sentence(path, line, f"the file is not valid TOML ({reason})")
        ) from None


def _sentence(path: Path, line: int | None, message: str) -> str:
    where = f"{_shown(path)}, line {line}" if line is not None else _shown(path)
    return f"{where}: {message}."


def _shown(path: Path) -> str:
    """Paths inside the project are shown relative to it, as people know them."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
