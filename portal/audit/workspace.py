"""The information-governance officer's audit workspace: search the trail, read one event, and
see who accessed a child's information. Every page is itself recorded in the trail."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from urllib.parse import urlencode

from flask import Blueprint, abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovTextInput
from werkzeug.datastructures import MultiDict
from wtforms import Form, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Regexp, ValidationError

from portal import db
from portal.audit import case_lookup, oversight
from portal.audit import search as trail
from portal.audit.actions import NOT_MADE_SAFE_REASONS, ORIGINAL_DOWNLOAD_REASONS, AuditAction
from portal.audit.export_scope import ExportCoverage, export_coverage
from portal.audit.lasting import record_lasting_event
from portal.audit.tree_store import leaf_of_event
from portal.auth.login import actor_for
from portal.auth.policy import Role, access, roles
from portal.form_fields import DayField

blueprint = Blueprint("audit", __name__, url_prefix="/audit")

IG_OFFICERS = roles(Role.IG_OFFICER)
PAGE_SIZE = 50
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
_SEQ = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also accepts "²"
_PAGING = ("before", "after")
_POSITION = re.compile(r"[1-9][0-9]{0,3}")


# Actions whose code alone would not say what happened.
_ACTION_LABELS = {
    AuditAction.ATTACHMENT_DOWNLOADED.value: "Document downloaded (its safe copy)",
    AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED.value: "Original document downloaded",
    AuditAction.ATTACHMENT_MADE_SAFE.value: "Safe copy of a document made",
    AuditAction.ATTACHMENT_NOT_MADE_SAFE.value: "Document could not be made safe",
}


_REASON_WORDS = {
    AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED.value: ORIGINAL_DOWNLOAD_REASONS,
    AuditAction.ATTACHMENT_NOT_MADE_SAFE.value: NOT_MADE_SAFE_REASONS,
}


def action_label(action: str) -> str:
    return _ACTION_LABELS.get(action) or action.replace("_", " ").capitalize()


def detail_label(action: str, key: str, value: object) -> str:
    """A recorded detail as IG reads it: an original download's reason, or why a document
    could not be made safe, in words."""
    words = _REASON_WORDS.get(action, {}).get(str(value)) if key == "reason" else None
    if words is not None:
        return words
    return "None" if value is None else str(value)


def role_label(code: str) -> str:
    try:
        return Role(code).label
    except ValueError:
        return code  # a role the trail recorded that the portal no longer has


blueprint.add_app_template_filter(action_label, "audit_action_label")
blueprint.add_app_template_global(detail_label, "audit_detail_label")
blueprint.add_app_template_filter(role_label, "audit_role_label")


def _stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _select(
    label: str, any_text: str, choices: Iterable[SelectChoice], message: str
) -> SelectField:
    return SelectField(
        label,
        choices=[SelectChoice("", any_text), *choices],
        default="",
        widget=GovSelect(),
        invalid_choice_message=message,
    )


def _case_reference_field() -> StringField:
    """The CMS case reference, exactly (both searches ask for it the same way)."""
    return StringField(
        "Case reference",
        description="The CMS case reference, exactly, like NCC-100234",
        widget=GovTextInput(),
        filters=[_stripped],
        validators=[
            Length(max=64, message="Case reference must be 64 characters or fewer"),
            Regexp(_PRINTABLE, message="Case reference must not contain control characters"),
        ],
    )


class AuditSearchForm(Form):
    """The search's filters, read from the query string (a GET form: no CSRF token, no change)."""

    case_reference = _case_reference_field()
    person = StringField(
        "Person",
        description="Their email address, or part of their name",
        widget=GovTextInput(),
        filters=[_stripped],
        validators=[
            Length(max=320, message="Person must be 320 characters or fewer"),
            Regexp(_PRINTABLE, message="Person must not contain control characters"),
        ],
    )
    organisation = _select(
        "Organisation", "Any organisation", (), "Select an organisation from the list"
    )
    action = _select(
        "Action",
        "Any action",
        (SelectChoice(action.value, action_label(action.value)) for action in AuditAction),
        "Select an action from the list",
    )
    outcome = _select(
        "Outcome",
        "Any outcome",
        (SelectChoice(outcome.value, outcome.value.capitalize()) for outcome in trail.AuditOutcome),
        "Select an outcome from the list",
    )
    date_from = DayField("Date from", description="For example, 27 3 2025. UK time.")
    date_to = DayField("Date to", description="The last day to include. UK time.")

    def validate_date_to(self, field: DayField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("Date to must be the same as or after date from")

    def audit_filter(self) -> trail.AuditFilter:
        """The filter the (validated) form describes."""
        return trail.AuditFilter(
            case_reference=self.case_reference.data or None,
            person=self.person.data or None,
            organisation_id=uuid.UUID(self.organisation.data) if self.organisation.data else None,
            action=AuditAction(self.action.data) if self.action.data else None,
            outcome=trail.AuditOutcome(self.outcome.data) if self.outcome.data else None,
            date_from=self.date_from.data,
            date_to=self.date_to.data,
        )


def search_form(args: MultiDict[str, str]) -> AuditSearchForm:
    """The search form filled from a query string, its organisation choices loaded.

    For any page that takes the search's filters (the evidence export): validate it, then
    `form.audit_filter()`.
    """
    form = AuditSearchForm(formdata=args)
    form.organisation.choices = [
        form.organisation.choices[0],
        *(SelectChoice(str(key), name) for key, name in trail.organisations(db.session())),
    ]
    return form


def filter_query(audit_filter: trail.AuditFilter) -> str:
    """The query string that asks for `audit_filter`, with only the filters that are set."""
    pairs: list[tuple[str, str]] = []
    for name in ("case_reference", "person", "organisation_id", "action", "outcome"):
        value = getattr(audit_filter, name)
        if value is not None:
            pairs.append(("organisation" if name == "organisation_id" else name, str(value)))
    for name in ("date_from", "date_to"):
        day: date | None = getattr(audit_filter, name)
        if day is not None:
            pairs += [(name, str(day.day)), (name, str(day.month)), (name, str(day.year))]
    return urlencode(pairs)


@blueprint.get("")
@access(IG_OFFICERS)
def search() -> ResponseReturnValue:
    before, after = _paging()
    form = search_form(request.args)
    if not form.validate():
        return _search_page(form, None, None), 400
    audit_filter = form.audit_filter()
    session = db.session()
    try:
        page = trail.search(session, audit_filter, before=before, after=after, limit=PAGE_SIZE)
    except trail.FilterTooBroad:
        form.person.errors = [
            f"More than {trail.MAX_PEOPLE} people match: enter more of their name, or their "
            "email address"
        ]
        return _search_page(form, None, None), 400
    oversight.record_search(
        session, actor_for(current_user), audit_filter, (before, after), len(page.rows)
    )
    coverage = export_coverage(session, trail.matches(session, audit_filter)) if page.rows else None
    return _search_page(form, audit_filter, page, coverage)


@blueprint.get("/events/<seq>")
@access(IG_OFFICERS)
def event(seq: str) -> ResponseReturnValue:
    # A plain string, not an int converter: a malformed number is just an event not found,
    # past the access guard like any other.
    if not _SEQ.fullmatch(seq):
        abort(404)
    session = db.session()
    row = trail.event_row(session, int(seq))
    if row is None:
        abort(404)
    record_lasting_event(
        AuditAction.AUDIT_EVENT_VIEWED,
        actor=actor_for(current_user),
        object_type="audit_event",
        object_id=str(row.event.seq),
        case_reference=row.event.case_reference,
    )
    return render_template(
        "audit/event.html",
        row=row,
        event=row.event,
        leaf_index=leaf_of_event(session, row.event.seq),
    )


class CaseSearchForm(Form):
    """Find a case, or a child by the CMS's person id (a GET form: no change)."""

    case_reference = _case_reference_field()
    person_id = StringField(
        "Child’s CMS person id",
        description="The CMS’s id for the child, exactly. Names cannot be searched: they are "
        "encrypted.",
        widget=GovTextInput(),
        filters=[_stripped],
        validators=[
            Length(max=64, message="CMS person id must be 64 characters or fewer"),
            Regexp(_PRINTABLE, message="CMS person id must not contain control characters"),
        ],
    )

    def validate_case_reference(self, field: StringField) -> None:
        if not field.data and not self.person_id.data:
            raise ValidationError("Enter a case reference or a child’s CMS person id")
        if field.data and self.person_id.data:
            raise ValidationError(
                "Enter a case reference or a child’s CMS person id, not both: clear one of them"
            )


@blueprint.get("/cases")
@access(IG_OFFICERS)
def case_search() -> ResponseReturnValue:
    """Who has seen a child's information: find the case, or the child, first."""
    form = CaseSearchForm(formdata=request.args)
    if not request.args:
        return render_template("audit/cases.html", form=form, searched=False)
    if not form.validate():
        return render_template("audit/cases.html", form=form, searched=False), 400
    session = db.session()
    typed, person_id = form.case_reference.data or None, form.person_id.data or None
    case, person = None, None
    if person_id:
        person = case_lookup.find_person(session, person_id)
        found = len(person.children)
    else:
        case = case_lookup.find_case(session, typed or "")
        found = 0 if case is None else 1
    oversight.record_case_search(
        session,
        actor_for(current_user),
        None if person_id else typed,
        found,
        [child.case_reference for child in person.children] if person else None,
    )
    return render_template(
        "audit/cases.html",
        form=form,
        searched=True,
        case=case,
        person=person,
        max_matches=case_lookup.MAX_MATCHES,
        typed=typed,
        person_id=person_id,
    )


@blueprint.get("/cases/<case_reference>/access")
@access(IG_OFFICERS)
def access_report(case_reference: str) -> ResponseReturnValue:
    if len(case_reference) > 64 or not _PRINTABLE.match(case_reference):
        abort(404)
    session = db.session()
    child = _child_report(case_reference)
    rows = child.rows if child else trail.access_report(session, case_reference)
    on_trail = oversight.record_access_report(
        session,
        actor_for(current_user),
        case_reference,
        len(rows),
        child.position if child else None,
    )
    return render_template(
        "audit/access_report.html",
        case_reference=case_reference,
        child=child,
        on_trail=on_trail,
        rows=rows,
        search_href=url_for("audit.search") + "?" + filter_query(trail.AuditFilter(case_reference)),
    )


def _child_report(case_reference: str) -> case_lookup.ChildReport | None:
    """One child's report, by `child` (their CMS person id) or, for a child the CMS gave no
    id, `position` (their place on the case); None for the whole case's. 404 for no such
    child."""
    person_id, position = request.args.get("child"), request.args.get("position")
    if person_id is None and position is None:
        return None
    if person_id is not None and (len(person_id) > 64 or not _PRINTABLE.match(person_id)):
        abort(404)
    if person_id is None and not (position and _POSITION.fullmatch(position)):
        abort(404)
    at = int(position) if person_id is None and position else None
    child = case_lookup.child_access_report(db.session(), case_reference, person_id, at)
    if child is None:
        abort(404)
    return child


def _paging() -> tuple[int | None, int | None]:
    """The page's position: `before` or `after` a seq. Only the page's own links set these."""
    values = {name: request.args.get(name) for name in _PAGING}
    if all(values.values()):
        abort(400)
    positions: list[int | None] = []
    for name in _PAGING:
        value = values[name]
        if value is None or value == "":
            positions.append(None)
        elif _SEQ.fullmatch(value):
            positions.append(int(value))
        else:
            abort(400)
    return positions[0], positions[1]


def _search_page(
    form: AuditSearchForm,
    audit_filter: trail.AuditFilter | None,
    page: trail.SearchPage | None,
    coverage: ExportCoverage | None = None,
) -> str:
    query = filter_query(audit_filter) if audit_filter else ""

    def link(**position: int) -> str:
        return url_for("audit.search") + "?" + "&".join(filter(None, (query, urlencode(position))))

    return render_template(
        "audit/search.html",
        form=form,
        audit_filter=audit_filter,
        page=page,
        coverage=coverage,
        older_href=link(before=page.older) if page and page.older is not None else None,
        newer_href=link(after=page.newer) if page and page.newer is not None else None,
        # The evidence pages (portal/audit/evidence.py) take the same filters.
        export_href="/audit/export" + (f"?{query}" if query else ""),
        verify_href="/audit/verify",
        clear_href=url_for("audit.search"),
    )
