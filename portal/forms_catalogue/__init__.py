"""The catalogue of versioned form templates that delegation requests name (config/forms/).

`init_app` loads it once at start-up, so a broken template stops the portal starting instead
of failing a partner halfway through a form; `catalogue()` reaches it afterwards.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from portal.config import CONFIG_DIR, PROJECT_ROOT, ConfigError
from portal.forms_catalogue.answers import answer_key, answer_keys, check_answer, validate_answers
from portal.forms_catalogue.loading import (
    Catalogue,
    CatalogueError,
    TemplateNotFound,
    load_catalogue,
    load_template,
)
from portal.forms_catalogue.template import Choice, FormTemplate, Question, QuestionType, Section

__all__ = [
    "FORMS_DIR",
    "Catalogue",
    "CatalogueError",
    "Choice",
    "FormTemplate",
    "Question",
    "QuestionType",
    "Section",
    "TemplateNotFound",
    "answer_key",
    "answer_keys",
    "catalogue",
    "check_answer",
    "init_app",
    "load_catalogue",
    "load_template",
    "validate_answers",
]

FORMS_DIR = CONFIG_DIR / "forms"
_EXTENSION = "portal.forms"


def init_app(app: Flask, directory: Path) -> None:
    """Load every template in `directory` (relative paths are from the project root)."""
    if not directory.is_absolute():
        directory = PROJECT_ROOT / directory
    try:
        app.extensions[_EXTENSION] = load_catalogue(directory)
    except CatalogueError as error:
        raise ConfigError(str(error)) from None


def catalogue(app: Flask | None = None) -> Catalogue:
    found: Catalogue = (app or current_app).extensions[_EXTENSION]
    return found
