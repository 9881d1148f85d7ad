"""The IG pages show a recorded reason code in words: why an original was downloaded, and why
a document could not be made safe (every code the disarm engine and worker record)."""

from __future__ import annotations

from portal.audit.actions import NOT_MADE_SAFE_REASONS, AuditAction
from portal.audit.workspace import detail_label
from portal.disarm import CODES
from portal.disarm.worker import INTERRUPTED, ORIGINAL_UNAVAILABLE, SHREDDED


def test_every_code_the_worker_records_has_its_words() -> None:
    assert set(NOT_MADE_SAFE_REASONS) == CODES | {SHREDDED, INTERRUPTED, ORIGINAL_UNAVAILABLE}


def test_a_reason_is_shown_in_words_and_other_details_as_recorded() -> None:
    not_made_safe = AuditAction.ATTACHMENT_NOT_MADE_SAFE.value
    assert detail_label(not_made_safe, "reason", "too_many_pages") == (
        "It has more pages than allowed"
    )
    assert detail_label(not_made_safe, "attempt", 2) == "2"
    assert detail_label(not_made_safe, "reason", "unheard_of") == "unheard_of"
    original = AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED.value
    assert detail_label(original, "reason", "legal_evidence").startswith("Needed as evidence")
