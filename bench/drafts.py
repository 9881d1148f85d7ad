"""Drafts ready to send, for the submit figure: every question of an open request answered
through the portal's own pages (a valid answer of each question's type), so that the step
measured is the one the figure names: attach a 1 MB document, then submit."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.answers import FORMS, answer_to
from bench.sessions import COOKIE
from portal.contributions.answers_form import Field, fields_of, file_fields_of
from portal.forms_catalogue import load_catalogue
from portal.forms_catalogue.template import FormTemplate, QuestionType
from portal.models import DelegationRequest
from portal.requests.services import children_of

TIMEOUT = 30


@dataclass(frozen=True)
class Draft:
    """An answered draft and where its document goes."""

    reference: str
    section_id: str
    answer_key: str


def prepare(
    engine: Engine, portal_url: str, token: str, references: list[str]
) -> tuple[str, list[Draft]]:
    """Answer every question of each request as the person whose session `token` is; returns
    the session's form token and the drafts."""
    http = requests.Session()
    http.cookies.set(COOKIE, token)
    catalogue = load_catalogue(FORMS)
    csrf = ""
    drafts = []
    for reference in references:
        with Session(engine) as session:
            found = session.scalars(
                sa.select(DelegationRequest).where(DelegationRequest.reference == reference)
            ).one()
            template = catalogue.get(found.form_template, found.form_template_version)
            # Names are not needed to answer: only the children's ids make the answers' keys.
            children = [(str(child.id), "") for child in children_of(found)]
        csrf = _confirm_children(http, portal_url, reference, children, csrf)
        csrf = csrf or _form_token(http, portal_url, reference, template)
        drafts.append(_answer(http, portal_url, csrf, reference, template, children))
    return csrf, drafts


def _confirm_children(
    http: requests.Session, url: str, reference: str, children: list[tuple[str, str]], csrf: str
) -> str:
    """The partner's first step on a request: it holds a record for every child (matched on
    name and date of birth). Returns the session's form token."""
    page = http.get(f"{url}/inbox/{reference}/children", timeout=TIMEOUT)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"no confirmation page for {reference}: {page.status_code}")
    csrf = csrf or html.unescape(found.group(1))
    form = {"csrf_token": csrf}
    for child_id, _name in children:
        form[f"known-{child_id}"] = "known"
        form[f"matched-{child_id}"] = "name_and_date_of_birth"
    confirmed = http.post(
        f"{url}/inbox/{reference}/children", data=form, allow_redirects=False, timeout=TIMEOUT
    )
    if confirmed.status_code != 302:
        raise RuntimeError(f"{reference} children: {confirmed.status_code}")
    return csrf


def _form_token(http: requests.Session, url: str, reference: str, template: FormTemplate) -> str:
    page = http.get(f"{url}/inbox/{reference}/answer/{template.sections[0].id}", timeout=TIMEOUT)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if page.status_code != 200 or not found:
        raise RuntimeError(f"no answer form for {reference}: {page.status_code}")
    return html.unescape(found.group(1))


def _answer(
    http: requests.Session,
    url: str,
    csrf: str,
    reference: str,
    template: FormTemplate,
    children: list[tuple[str, str]],
) -> Draft:
    document: Draft | None = None
    for section in template.sections:
        form: dict[str, Any] = {"csrf_token": csrf, "action": "continue"}
        for field in fields_of(section, children):
            form |= _answer_for(field)
        answered = http.post(
            f"{url}/inbox/{reference}/answer/{section.id}",
            data=form,
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if answered.status_code != 302:
            raise RuntimeError(f"{reference} {section.id}: {answered.status_code}")
        uploads = file_fields_of(section, children)
        if uploads and document is None:
            document = Draft(reference, section.id, uploads[0].key)
    if document is None:
        raise RuntimeError(f"the form of {reference} asks for no document")
    return document


def _answer_for(field: Field) -> dict[str, Any]:
    """The generator's answer (bench/answers.py) as the page's form posts it: a date in
    GOV.UK's three boxes, choices as repeated fields."""
    value = answer_to(field.question)
    if field.question.type is QuestionType.DATE:
        year, month, day = value.split("-")
        return {f"{field.key}-day": day, f"{field.key}-month": month, f"{field.key}-year": year}
    return {field.key: value}
