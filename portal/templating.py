"""Template loading: the app's own templates, then GOV.UK Frontend's Jinja macros."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from govuk_frontend_wtf.main import WTFormsHelpers
from jinja2 import ChoiceLoader, PackageLoader, PrefixLoader

from portal.navigation import navigation_context
from portal.uk_time import last_uk_day, long_date, uk_clock, uk_moment


def init_app(app: Flask) -> None:
    app.jinja_loader = ChoiceLoader(
        [
            PackageLoader("portal"),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )
    WTFormsHelpers(app)
    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    # A value the page has not got prints as nothing, never as Python's "None" ("Team None").
    app.jinja_env.finalize = _nothing_for_none

    app.context_processor(navigation_context)
    app.add_template_filter(uk_clock, "uk_time")
    app.add_template_filter(long_date, "long_date")
    app.add_template_filter(uk_moment, "uk_moment")
    app.add_template_filter(last_uk_day, "last_uk_day")

    @app.context_processor
    def service() -> dict[str, Any]:
        settings = current_app.config["PORTAL_SETTINGS"]
        return {
            "service_name": settings.service.name,
            "council_name": settings.service.council_name,
        }


def _nothing_for_none(value: object) -> object:
    return "" if value is None else value
