"""Who may use each route. Default deny: a route that states no rule answers 403 to everyone.

Every view declares its rule with `@access(...)`; `tests/test_route_access.py` fails when one
does not, and the permission-matrix test checks each rule for every role.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from portal.cases.identifiers import ChildIdentifier
from portal.models.organisations import OrganisationKind
from portal.models.users import Role, User

# Route modules name roles in their rules through this module, never through the data model.
__all__ = [
    "PUBLIC",
    "SIGNED_IN",
    "AccessRule",
    "Role",
    "access",
    "child_identifiers_shown_to",
    "roles",
    "safe_next_path",
]

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


@dataclass(frozen=True)
class AccessRule:
    description: str
    needs_sign_in: bool
    roles: frozenset[Role] = frozenset()  # empty: any signed-in person

    def allows(self, user: User | None) -> bool:
        if not self.needs_sign_in:
            return True
        if user is None or not user.is_active:
            return False
        return not self.roles or user.has_role(*self.roles)


PUBLIC = AccessRule("anyone, signed in or not", needs_sign_in=False)
SIGNED_IN = AccessRule("any signed-in person", needs_sign_in=True)


def roles(*allowed: Role) -> AccessRule:
    names = ", ".join(sorted(role.value for role in allowed))
    return AccessRule(f"signed in with a role in: {names}", True, frozenset(allowed))


def access(rule: AccessRule) -> Callable[[F], F]:
    """Declare who may use a view."""

    def decorate(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return decorate


# Endpoints Flask itself registers.
_BUILT_IN_RULES = {"static": PUBLIC}


def rule_for(app: Flask, endpoint: str) -> AccessRule | None:
    view = app.view_functions.get(endpoint)
    rule: AccessRule | None = getattr(view, "access_rule", None)
    return rule or _BUILT_IN_RULES.get(endpoint)


def init_app(app: Flask) -> None:
    @app.before_request
    def enforce_access_rule() -> ResponseReturnValue | None:
        if request.endpoint is None:
            return None  # no such route: routing answers 404
        rule = rule_for(app, request.endpoint)
        if rule is None:
            app.logger.error("route %s has no access rule; refused", request.endpoint)
            abort(403)
        if not rule.needs_sign_in:
            return None
        if not current_user.is_authenticated:
            return _to_sign_in()
        if not rule.allows(current_user):
            _record_denial(request.endpoint)
            abort(403)
        return None

    @app.errorhandler(CSRFError)
    def form_token_refused(_error: CSRFError) -> ResponseReturnValue:
        """A form sent after the person's session ended carries a token for that session:
        they are asked to sign in again (and come back here), not shown an error. The form
        checks its token before the access rule runs, so the two meet here."""
        from portal.errors import render_error

        rule = rule_for(app, request.endpoint or "")
        if rule is not None and rule.needs_sign_in and not current_user.is_authenticated:
            return _to_sign_in()
        return render_error(400)


def _to_sign_in() -> ResponseReturnValue:
    # Say why, when the person's session has just timed out.
    ended = getattr(session, "ended", None)
    return redirect(url_for("auth.sign_in", next=_return_path(), ended=ended))


def _return_path() -> str | None:
    """Where to bring the person back after signing in: the page they asked for, or for a
    form (often an address that answers only POST) the page the form was on. What they had
    saved before is kept; the unsent form is not."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc != request.host:
        return None
    return safe_next_path(referrer.path + (f"?{referrer.query}" if referrer.query else ""))


def _record_denial(endpoint: str) -> None:
    """A refusal is on the trail too: the request boundary writes it in a transaction of its
    own, since the 403's own transaction is rolled back."""
    from portal.audit import AuditAction, record_lasting_event
    from portal.auth.login import actor_for
    from portal.models import AuditOutcome

    record_lasting_event(
        AuditAction.PERMISSION_DENIED,
        actor=actor_for(current_user),
        outcome=AuditOutcome.DENIED,
        object_type="route",
        object_id=endpoint,
        details={"method": request.method},
    )


def safe_next_path(target: str | None) -> str | None:
    """`target` if it is a path on this site, else None: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    return target


# Data minimisation: a partner sees only the identifier its own records are keyed by. The
# council's own staff see every identifier the CMS holds.
_IDENTIFIERS_BY_KIND: dict[OrganisationKind, frozenset[ChildIdentifier]] = {
    OrganisationKind.COUNCIL: frozenset(ChildIdentifier),
    OrganisationKind.SCHOOL: frozenset({ChildIdentifier.UPN}),
    OrganisationKind.HEALTH: frozenset({ChildIdentifier.NHS_NUMBER}),
    OrganisationKind.POLICE: frozenset(),
    OrganisationKind.OTHER: frozenset(),
}


def child_identifiers_shown_to(
    kind: OrganisationKind, police_identifiers: Iterable[str] = ()
) -> frozenset[ChildIdentifier]:
    """Which of a child's identifiers people in an organisation of this kind may see and match
    on. Police see none unless the council configures it ([requests] police_identifiers), for
    the forces whose agreement provides for it."""
    if kind is OrganisationKind.POLICE:
        return frozenset(ChildIdentifier(identifier) for identifier in police_identifiers)
    return _IDENTIFIERS_BY_KIND[kind]
