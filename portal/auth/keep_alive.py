"""Stay signed in: what a page's timeout warning calls (session-timeout.mjs) when the person
chooses to go on, so their idle session is extended before it ends (WCAG 2.2.1)."""

from __future__ import annotations

from flask import Blueprint, session
from flask.typing import ResponseReturnValue

from portal import db
from portal.auth import sessions
from portal.auth.policy import SIGNED_IN, access

blueprint = Blueprint("keep_alive", __name__)


@blueprint.post("/session/keep-alive")
@access(SIGNED_IN)
def keep_alive() -> ResponseReturnValue:
    """204 when the session now has its whole idle time again. Someone already signed out is
    sent to sign in by the access rule, and a missing or stale form token is refused: the page
    takes any answer but 204 as "signed out" and reloads.

    No audit event: this changes no case data and reveals none, it is what any page request
    does to the session (open_session), only without waiting for TOUCH_INTERVAL. Sign-in and
    sign-out, which begin and end the session, are on the trail.
    """
    sessions.touch(session, db.session())  # type: ignore[arg-type]
    return "", 204
