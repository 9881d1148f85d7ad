"""What the feedback page needs, for its route module: the sent version it is about, whether
feedback was given on it, and giving it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.contributions.pages import sent_version as sent_version
from portal.crypto.records import RecordCipher
from portal.models import Contribution, Satisfaction
from portal.pilot.recording import SELECT_RATING, give_feedback
from portal.pilot.recording import PilotRefused as PilotRefused
from portal.pilot.recording import feedback_given as feedback_given


def give(
    session: Session,
    cipher: RecordCipher,
    sent: Contribution,
    actor: Actor,
    rating: str,
    comment: str | None,
) -> None:
    try:
        read = Satisfaction(int(rating))
    except ValueError:
        raise PilotRefused("rating", SELECT_RATING) from None
    give_feedback(session, cipher, sent, actor, read, (comment or "").strip() or None)
