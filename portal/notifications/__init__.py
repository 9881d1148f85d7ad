"""E-mail notifications: queued in the caller's transaction, written from small templates at
send time and sent by a background process. They carry a request reference and a link only."""

from portal.notifications.queue import (
    enqueue,
    notify_colleague_passed,
    notify_partner_accepted,
    notify_partner_of_new_request,
    notify_partner_of_withdrawal,
    notify_partner_returned,
    notify_worker_of_submission,
    notify_workers_child_not_known,
    reschedule_reminders,
    schedule_reminders,
)

__all__ = [
    "enqueue",
    "notify_colleague_passed",
    "notify_partner_accepted",
    "notify_partner_of_new_request",
    "notify_partner_of_withdrawal",
    "notify_partner_returned",
    "notify_worker_of_submission",
    "notify_workers_child_not_known",
    "reschedule_reminders",
    "schedule_reminders",
]
