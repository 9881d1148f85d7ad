"""The closed vocabulary of audited actions."""

import enum


class AuditAction(enum.StrEnum):
    # Signing in and out
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SESSION_ENDED_BY_PROVIDER = "session_ended_by_provider"
    LOGOUT_TOKEN_REFUSED = "logout_token_refused"  # noqa: S105 - an action name
    PERMISSION_DENIED = "permission_denied"
    # People and organisations
    USER_PROVISIONED = "user_provisioned"
    USER_AWAITING_APPROVAL = "user_awaiting_approval"
    USER_APPROVED = "user_approved"
    USER_SUSPENDED = "user_suspended"
    USER_REINSTATED = "user_reinstated"
    ROLES_CHANGED = "roles_changed"
    IDENTITY_PROVIDER_ADDED = "identity_provider_added"
    IDENTITY_PROVIDER_CHANGED = "identity_provider_changed"
    ORGANISATION_CHANGED = "organisation_changed"
    # Issue 19, onboarding organisations into the pilot (portal/onboarding): codes, counts and
    # the organisation's set-up, never a request's content
    ORGANISATION_PROPOSED = "organisation_proposed"
    ORGANISATION_STAGE_CHANGED = "organisation_stage_changed"
    SHARING_AGREEMENT_RECORDED = "sharing_agreement_recorded"
    CHECKLIST_ITEM_RECORDED = "checklist_item_recorded"  # the DPIA, the MFA decision
    IDENTITY_PROVIDER_TESTED = "identity_provider_tested"  # its first sign-in since approval
    AGREEMENT_REVIEW_WARNED = "agreement_review_warned"
    # Changes that widen who can act for a partner: proposed, then decided by a second person
    CHANGE_PROPOSED = "change_proposed"
    CHANGE_APPROVED = "change_approved"
    CHANGE_REFUSED = "change_refused"
    CHANGE_WITHDRAWN = "change_withdrawn"
    CHANGE_SUPERSEDED = "change_superseded"
    # Issue 19, the pilot's figures (portal/pilot)
    PILOT_FIGURES_EXPORTED = "pilot_figures_exported"
    FEEDBACK_GIVEN = "feedback_given"  # the rating only: the comment is sealed
    FEEDBACK_READ = "feedback_read"  # the officer opened the comments: filters and a count
    REQUEST_ANSWERED_ELSEWHERE = "request_answered_elsewhere"
    # Delegation requests
    REQUEST_ISSUED = "request_issued"
    REQUEST_REVOKED = "request_revoked"
    REQUEST_EXTENDED = "request_extended"
    REQUEST_ROUTED = "request_routed"
    REQUEST_EXPIRED = "request_expired"
    CASE_LOOKED_UP = "case_looked_up"
    # Contributions
    CONTRIBUTION_DRAFT_SAVED = "contribution_draft_saved"
    CONTRIBUTION_SUBMITTED = "contribution_submitted"
    # Issue 21: the same submission as the partner may see it (no case reference): the leaf
    # whose inclusion proof the partner can download with its receipt (docs/receipts.md).
    RECEIPT_LOGGED = "receipt_logged"
    RECEIPT_PROOF_DOWNLOADED = "receipt_proof_downloaded"
    CONTRIBUTION_ACCEPTED = "contribution_accepted"
    CONTRIBUTION_RETURNED = "contribution_returned"
    CONTRIBUTION_REJECTED = "contribution_rejected"
    ATTACHMENT_UPLOADED = "attachment_uploaded"
    ATTACHMENT_REFUSED = "attachment_refused"
    ATTACHMENT_REMOVED = "attachment_removed"
    # Issue 18, content disarm (docs/disarm.md): the worker's outcome for each document
    ATTACHMENT_MADE_SAFE = "attachment_made_safe"
    ATTACHMENT_NOT_MADE_SAFE = "attachment_not_made_safe"
    # The CMS connector: one event per delivery attempt's outcome, and what people did about it
    CONTRIBUTION_DELIVERED = "contribution_delivered"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_DEAD_LETTERED = "delivery_dead_lettered"
    DELIVERY_RETRIED = "delivery_retried"
    DELIVERY_CANCELLED = "delivery_cancelled"
    DELIVERIES_RECONCILED = "deliveries_reconciled"
    CASE_COPIED_FROM_CMS = "case_copied_from_cms"
    # Issue 17, the CMS side (helper A): a child the CMS listed without a person id, linked to
    # the person record the CMS made later (same case, name and date of birth, one each side).
    CHILD_LINKED_TO_CMS_PERSON = "child_linked_to_cms_person"
    # End of issue 17's CMS-side actions.
    # E-mail notifications: one event per send attempt's outcome (never the address)
    NOTIFICATION_SENT = "notification_sent"
    NOTIFICATION_FAILED = "notification_failed"
    # Reads of sensitive content: what "who accessed this child's information" reports
    CHILD_DETAILS_VIEWED = "child_details_viewed"
    REQUEST_VIEWED = "request_viewed"
    CONTRIBUTION_VIEWED = "contribution_viewed"
    ATTACHMENT_DOWNLOADED = "attachment_downloaded"  # the safe copy
    # The original as the partner sent it, by a reviewer who gave a reason (issue 18)
    ATTACHMENT_ORIGINAL_DOWNLOADED = "attachment_original_downloaded"
    # The audit trail itself
    AUDIT_SEARCHED = "audit_searched"
    AUDIT_EVENT_VIEWED = "audit_event_viewed"
    AUDIT_ACCESS_REPORT_VIEWED = "audit_access_report_viewed"
    AUDIT_EXPORTED = "audit_exported"
    AUDIT_VERIFIED = "audit_verified"
    AUDIT_EXPORT_VERIFIED = "audit_export_verified"  # an export checked in the browser
    AUDIT_CHECKPOINT_SIGNED = "audit_checkpoint_signed"
    # Keys and operations
    KEYRING_REGISTERED = "keyring_registered"
    DEMO_DATA_SEEDED = "demo_data_seeded"
    # Key-encryption key rotation (`portal keys …`): versions and counts, never key material
    KEK_ROTATED = "kek_rotated"  # a new version added (and made active unless staged)
    KEK_ACTIVATED = "kek_activated"  # a staged version made the one new keys are wrapped under
    DATA_KEYS_REWRAPPED = "data_keys_rewrapped"  # one batch moved to the active version
    KEK_RETIRED = "kek_retired"
    # Retention: content crypto-shredded after its period, unless a legal hold stops it
    RETENTION_SHREDDED = "retention_shredded"
    LEGAL_HOLD_PLACED = "legal_hold_placed"
    LEGAL_HOLD_RELEASED = "legal_hold_released"
    # Issue 17, the partner confirms each child (portal/contributions/confirmations.py): counts
    # of its answers and the codes it matched on, never a child's name or identifier.
    CHILDREN_CONFIRMED = "children_confirmed"
    # The partner knows none of the children: the request closes and nothing is shared.
    REQUEST_CLOSED_CHILD_NOT_KNOWN = "request_closed_child_not_known"


# The actions that read a child's information or what partners said about them.
SENSITIVE_READS = frozenset(
    {
        AuditAction.CHILD_DETAILS_VIEWED,
        AuditAction.REQUEST_VIEWED,
        AuditAction.CONTRIBUTION_VIEWED,
        AuditAction.ATTACHMENT_DOWNLOADED,
        AuditAction.ATTACHMENT_ORIGINAL_DOWNLOADED,
    }
)

# Why the disarm worker could not make a document's safe copy (ATTACHMENT_NOT_MADE_SAFE's
# "reason": portal.disarm's codes and the worker's own), in the words the IG pages show.
NOT_MADE_SAFE_REASONS = {
    "timeout": "Converting it took longer than allowed",
    "memory": "Converting it needed more memory than allowed",
    "too_many_pages": "It has more pages than allowed",
    "unreadable": "It could not be read (damaged, or not what its type says)",
    "output_too_large": "Its safe copy would be larger than allowed",
    "converter_missing": "The converter is not installed on the disarm worker's machine",
    "converter_failed": "The converter failed on it",
    "sandbox_unavailable": "The converter's sandbox could not be started",
    "shredded": "It was shredded (its key destroyed) before the safe copy was made",
    "interrupted": "Its conversion was interrupted too many times",
    "original_unavailable": "The stored original could not be read",
}

# Why a reviewer downloaded a document's original rather than its safe copy: the codes the
# form offers and the trail records (ATTACHMENT_ORIGINAL_DOWNLOADED's "reason"), with the words
# the form and the IG pages show. Codes only, never free text: a reason in a person's own words
# could carry a child's details into the trail.
ORIGINAL_DOWNLOAD_REASONS = {
    "safe_copy_unreadable": "The safe copy is unreadable or is missing content",
    "legal_evidence": "Needed as evidence in legal proceedings",
    "document_details": "Needed to check the document’s details, such as tracked changes or "
    "who wrote it and when",
    "other": "Another reason (the information governance officer may ask about it)",
}
