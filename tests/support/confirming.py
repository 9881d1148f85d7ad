"""The partner's first step on a request: saying which of its children it knows, through the
real confirmation page (portal/contributions/confirmations.py)."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import ChildConfirmation, ChildKnown, DelegationRequest, MatchedOn, User
from tests.factories import csrf_token

KNOWN = ("known", "name_and_date_of_birth")


def children_on_page(html: str) -> list[str]:
    """The child ids the confirmation page asks about, in its order."""
    return list(dict.fromkeys(re.findall(r'name="known-([0-9a-f-]{36})"', html)))


def confirm_children(
    client: FlaskClient,
    reference: str,
    answers: dict[str, tuple[str, str | None]] | None = None,
    *,
    close: bool = False,
) -> Any:
    """Post the confirmation page: `answers` by child id (answer, matched on); every child
    not named is "we hold a record", matched on name and date of birth. `close` confirms
    closing the request when the answers know none of the children."""
    page = client.get(f"/inbox/{reference}/children")
    assert page.status_code == 200, page.status_code
    html = page.get_data(as_text=True)
    form: dict[str, str] = {"csrf_token": csrf_token(html)}
    for child_id in children_on_page(html):
        answer, matched = (answers or {}).get(child_id, KNOWN)
        form[f"known-{child_id}"] = answer
        if matched is not None:
            form[f"matched-{child_id}"] = matched
    if close:
        form["close"] = "yes"
    return client.post(f"/inbox/{reference}/children", data=form)


def confirm_if_asked(client: FlaskClient, reference: str) -> None:
    """Confirm every child as known when the request still asks for it (its answer pages
    send the partner to the confirmation page first)."""
    start = client.get(f"/inbox/{reference}/answer")
    if start.status_code == 302 and start.headers["Location"].endswith("/children"):
        saved = confirm_children(client, reference)
        assert saved.status_code == 302, saved.get_data(as_text=True)[:1500]


def confirmed_in_database(session: Session, request: DelegationRequest, partner: User) -> None:
    """Test setup that skips the page: the partner knows every child, matched on name and
    date of birth (for tests about what comes after; the page itself is tested on its own)."""
    for child in request.children:
        session.add(
            ChildConfirmation(
                request_id=request.id,
                child_id=child.id,
                answer=ChildKnown.KNOWN,
                matched_on=MatchedOn.NAME_AND_DATE_OF_BIRTH,
                confirmed_by_id=partner.id,
            )
        )
    session.flush()
