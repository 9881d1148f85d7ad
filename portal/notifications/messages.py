"""The e-mails' words: one small plain-text template per kind of notification.

A message holds the request's reference, a link to it, the service's and council's names and
what to do next: never a child's name, the purpose, anyone's name or anything anyone wrote.
E-mail leaves the council's control, so everything else stays behind the sign-in.

Two kinds are about an organisation rather than a request (`compose_about_organisation`): an
agreement due for review names the organisation and the review date; a change waiting for
approval names nothing, and links to the approvals page.
"""

from __future__ import annotations

import re
import textwrap
import uuid
from dataclasses import dataclass
from datetime import date
from string import Template

from portal.models.notifications import NotificationKind
from portal.settings import ServiceSettings
from portal.uk_time import long_date

_K = NotificationKind
# Who reads each kind: partners open requests in their inbox, social workers on their dashboard.
TO_PARTNER = frozenset(
    {
        _K.REQUEST_ISSUED,
        _K.REQUEST_DUE_SOON,
        _K.REQUEST_OVERDUE,
        _K.CONTRIBUTION_RETURNED,
        _K.CONTRIBUTION_ACCEPTED,
        _K.REQUEST_WITHDRAWN,
        _K.REQUEST_PASSED,
    }
)
# References are made by portal.requests.services.new_reference; anything else is refused so
# that nothing but a reference can ever reach an e-mail through this field.
_REFERENCE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")

_SIGN_OFF = """
You will be asked to sign in with your organisation's account. This e-mail does not include any details of the request: they are only shown after you sign in.

$service
$council"""  # noqa: E501 - a paragraph per line: compose wraps them
_WIDTH = 72


@dataclass(frozen=True)
class _Template:
    subject: str
    body: str


_TEMPLATES: dict[NotificationKind, _Template] = {
    _K.REQUEST_ISSUED: _Template(
        subject="New request for information: $reference",
        body="""$council has sent your organisation a request for information.

Reference: $reference

Sign in to read the request and answer it:
$link
""",
    ),
    _K.REQUEST_DUE_SOON: _Template(
        subject="Reminder: request $reference is due soon",
        body="""A request for information from $council is due soon.

Reference: $reference

Sign in to finish and submit your answer:
$link
""",
    ),
    _K.REQUEST_OVERDUE: _Template(
        subject="Request $reference is overdue",
        body="""A request for information from $council is past its due date.

Reference: $reference

Sign in to submit your answer as soon as you can, or to contact the social worker:
$link
""",
    ),
    _K.CONTRIBUTION_RETURNED: _Template(
        subject="More information needed: request $reference",
        body="""$council has returned your answer to a request and needs more information.

Reference: $reference

Sign in to see what is needed and send an updated answer:
$link
""",
    ),
    _K.CONTRIBUTION_ACCEPTED: _Template(
        subject="Answer accepted: request $reference",
        body="""$council has accepted your answer to a request. Thank you.

Reference: $reference

You do not need to do anything else. Sign in to see your receipt:
$link
""",
    ),
    _K.REQUEST_WITHDRAWN: _Template(
        subject="Request $reference has been withdrawn",
        body="""$council has withdrawn a request for information that you had opened. You do not need to answer it, and anything not yet sent will not be shared.

Reference: $reference

Sign in to see when it was withdrawn and by which team:
$link
""",  # noqa: E501 - a paragraph per line: compose wraps them
    ),
    _K.REQUEST_PASSED: _Template(
        subject="A request has been passed to you: $reference",
        body="""A colleague at your organisation has passed you a request for information from $council to answer.

Reference: $reference

Sign in to read the request and answer it:
$link
""",  # noqa: E501 - a paragraph per line: compose wraps them
    ),
    _K.CONTRIBUTION_SUBMITTED: _Template(
        subject="New answer to review: request $reference",
        body="""A partner organisation has answered your request for information.

Reference: $reference

Sign in to review the answer:
$link
""",
    ),
    _K.CHILD_NOT_KNOWN: _Template(
        subject="Request $reference closed: the partner does not know the child",
        body="""A partner organisation has told $council that it does not know the child or children your request names. The request is closed and nothing was shared.

Reference: $reference

Sign in to see what the partner said:
$link
""",  # noqa: E501 - a paragraph per line: compose wraps them
    ),
}


_ABOUT_ORGANISATIONS: dict[NotificationKind, _Template] = {
    _K.AGREEMENT_REVIEW_DUE: _Template(
        subject="Information-sharing agreement due for review: $reference",
        body="""The information-sharing agreement between $council and $reference is due for review on $review_on.

If a reviewed agreement is not recorded in the portal by then, the organisation will receive no new requests until it is.

Sign in to see the organisation's onboarding record:
$link
""",  # noqa: E501 - a paragraph per line: compose wraps them
    ),
    _K.CHANGE_AWAITING_APPROVAL: _Template(
        subject="A change is waiting for your approval",
        body="""Someone has proposed a change to who can act for a partner organisation in the portal. It takes effect only when a second person approves it.

Sign in to review the change, and approve or refuse it:
$link
""",  # noqa: E501 - a paragraph per line: compose wraps them
    ),
}
ABOUT_ORGANISATIONS = frozenset(_ABOUT_ORGANISATIONS)
# An organisation's name as it may appear in an e-mail: letters, digits, spaces and the
# punctuation names use, and no line breaks (nothing can be smuggled into a header).
_ORGANISATION_NAME = re.compile(r"^[\w][\w .,'’&()/-]{0,199}$")


@dataclass(frozen=True)
class Message:
    """One e-mail, ready to send. `reference` and `link` are also what GOV.UK Notify's template
    receives as its personalisation."""

    kind: NotificationKind
    reference: str
    link: str
    subject: str
    body: str


def link_for(kind: NotificationKind, reference: str, base_url: str) -> str:
    """Where the recipient opens the request: partners' inbox, or the social worker's page."""
    section = "inbox" if kind in TO_PARTNER else "requests"
    return f"{base_url.rstrip('/')}/{section}/{_checked(reference)}"


def compose(kind: NotificationKind, reference: str, service: ServiceSettings) -> Message:
    template = _TEMPLATES[kind]
    link = link_for(kind, reference, service.base_url)
    fields = {
        "reference": _checked(reference),
        "link": link,
        "service": service.name,
        "council": service.council_name,
    }
    body = Template(template.body + _SIGN_OFF).substitute(fields)
    return Message(
        kind=kind,
        reference=fields["reference"],
        link=link,
        subject=Template(template.subject).substitute(fields),
        body="\n".join(_wrap(line) for line in body.strip().splitlines()) + "\n",
    )


def compose_about_organisation(
    kind: NotificationKind,
    organisation_id: uuid.UUID,
    organisation_name: str,
    review_on: date | None,
    service: ServiceSettings,
) -> Message:
    """An e-mail about an organisation. Its name is the message's reference (what GOV.UK
    Notify's template receives with the link); a change waiting for approval names none."""
    template = _ABOUT_ORGANISATIONS[kind]
    base = service.base_url.rstrip("/")
    if kind is NotificationKind.AGREEMENT_REVIEW_DUE:
        if review_on is None or not _ORGANISATION_NAME.fullmatch(organisation_name):
            raise ValueError("not an organisation's name and review date")
        reference = organisation_name
        link = f"{base}/organisations/{organisation_id}"
    else:
        reference, link = "", f"{base}/approvals"
    fields = {
        "reference": reference,
        "review_on": long_date(review_on) if review_on else "",
        "link": link,
        "service": service.name,
        "council": service.council_name,
    }
    body = Template(template.body + _SIGN_OFF_ORGANISATION).substitute(fields)
    return Message(
        kind=kind,
        reference=reference,
        link=link,
        subject=Template(template.subject).substitute(fields),
        body="\n".join(_wrap(line) for line in body.strip().splitlines()) + "\n",
    )


_SIGN_OFF_ORGANISATION = """
You will be asked to sign in with your organisation's account.

$service
$council"""


def _wrap(line: str) -> str:
    # Short lines read well in any mail program and need no transfer encoding; a link is
    # never broken.
    return textwrap.fill(line, _WIDTH, break_long_words=False, break_on_hyphens=False)


def _checked(reference: str) -> str:
    if not _REFERENCE.fullmatch(reference):
        raise ValueError("not a request reference")
    return reference
