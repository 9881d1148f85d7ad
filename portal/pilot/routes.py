"""The pilot's figures for the partner engagement officer: the page with its charts and
tables, and the same figures as CSV and as an OpenDocument spreadsheet (audited)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.pilot import comments, export, pages, shown
from portal.pilot.filtering import ReadFilters, kind_choices, month_choices, read_filters
from portal.pilot.forms import FiltersForm
from portal.uk_time import uk_today

blueprint = Blueprint("pilot", __name__, url_prefix="/pilot")
OFFICERS = roles(Role.PARTNER_ENGAGEMENT_OFFICER)


def _threshold() -> int:
    return int(current_app.config["PORTAL_SETTINGS"].pilot.suppress_below)


def _read() -> tuple[ReadFilters, FiltersForm]:
    """The filters from the query string (the page) or the form (a download's POST)."""
    given = request.form if request.method == "POST" else request.args
    organisations = pages.partner_organisations(db.session())
    read = read_filters(given, uk_today(), organisations)
    form = FiltersForm(given)
    months = [SelectChoice(value, label) for value, label in month_choices(uk_today())]
    form.first.choices = months
    form.last.choices = list(months)
    form.kind.choices = [SelectChoice(value, label) for value, label in kind_choices()]
    form.organisation.choices = [SelectChoice("", "All organisations")] + [
        SelectChoice(str(id_), name) for id_, name in organisations
    ]
    form.first.data = str(read.filters.period.first)
    form.last.data = str(read.filters.period.last)
    for name, message in read.errors.items():
        getattr(form, name).errors = [message]
    return read, form


@blueprint.get("")
@access(OFFICERS)
def index() -> ResponseReturnValue:
    read, form = _read()
    page = pages.figures_page(db.session(), read.filters, _threshold(), uk_today())
    return render_template(
        "pilot/index.html",
        page=page,
        form=form,
        counts=shown.COUNTS,
        rates=shown.RATES,
        times=shown.TIMES,
        definitions=shown.DEFINITIONS,
    ), (400 if read.errors else 200)


@blueprint.get("/feedback")
@access(OFFICERS)
def feedback() -> ResponseReturnValue:
    """The partners' comments for the filters (audited: they are free text, sealed)."""
    read, form = _read()
    session = db.session()
    found = (
        []
        if read.errors
        else comments.read_comments(session, db.cipher(), actor_for(current_user), read.filters)
    )
    return render_template(
        "pilot/comments.html",
        comments=found,
        form=form,
        description=pages.describe(session, read.filters),
        read=not read.errors,
    ), (400 if read.errors else 200)


@blueprint.post("/figures.csv")
@access(OFFICERS)
def csv_file() -> ResponseReturnValue:
    return _export("csv")


@blueprint.post("/figures.ods")
@access(OFFICERS)
def ods_file() -> ResponseReturnValue:
    return _export("ods")


def _export(file_format: str) -> ResponseReturnValue:
    read, _form = _read()
    if read.errors:
        return index()
    session = db.session()
    page = pages.figures_page(session, read.filters, _threshold(), uk_today())
    about = pages.about(page, datetime.now(UTC))
    pages.record_export(session, actor_for(current_user), page, file_format)
    period = read.filters.period
    name = f"pilot-figures-{period.first}-to-{period.last}.{file_format}"
    if file_format == "csv":
        response = Response(export.as_csv(about, page.sections), mimetype="text/csv")
    else:
        response = Response(export.as_ods(about, page.sections), mimetype=export.ODS_MIMETYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
