"""Why a sign-in failed, as a code for the audit trail and a sentence for the person."""

from __future__ import annotations


class SignInFailure(Exception):
    """A sign-in that must end with no session. `reason` is a code from REASONS."""

    def __init__(self, reason: str, status: int = 400) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown sign-in failure reason {reason!r}")
        super().__init__(reason)
        self.reason = reason
        self.status = status

    @property
    def explanation(self) -> str:
        return REASONS[self.reason]


_TRY_AGAIN = "Start again from the sign-in page."
_ASK_IT = "Ask your organisation's IT team or the council's service desk for help."

REASONS = {
    # The sign-in transaction
    "no_transaction": (
        f"We could not match this sign-in to one you started, or it took too long. {_TRY_AGAIN}"
    ),
    "wrong_provider": (
        "This sign-in came back from a different organisation's provider than the one you"
        f" chose. {_TRY_AGAIN}"
    ),
    "issuer_mismatch": (
        f"The sign-in response did not come from the provider you chose. {_TRY_AGAIN}"
    ),
    "provider_error": (
        f"Your organisation's sign-in service refused or cancelled the sign-in. {_TRY_AGAIN}"
    ),
    "missing_code": f"The sign-in response was incomplete. {_TRY_AGAIN}",
    "provider_unavailable": (
        f"Your organisation's sign-in service did not answer. Try again in a few minutes. {_ASK_IT}"
    ),
    "provider_disabled": f"Sign-in through this organisation's provider is switched off. {_ASK_IT}",
    "token_request_failed": (
        f"Your organisation's sign-in service did not accept the sign-in. {_TRY_AGAIN}"
    ),
    # The ID token
    "malformed_token": (
        f"Your organisation's sign-in service sent a sign-in we cannot read. {_ASK_IT}"
    ),
    "algorithm_not_allowed": (
        "Your organisation's sign-in service signed the sign-in in a way we do not "
        f"accept. {_ASK_IT}"
    ),
    "unknown_key": (
        "Your organisation's sign-in service signed the sign-in with a key we do not "
        f"know. {_ASK_IT}"
    ),
    "bad_signature": f"The sign-in's signature is not valid. {_ASK_IT}",
    "wrong_issuer": (
        f"The sign-in was issued by a different service than the one you chose. {_ASK_IT}"
    ),
    "wrong_audience": f"The sign-in was issued for a different service. {_ASK_IT}",
    "missing_azp": f"The sign-in does not say which service it was issued to. {_ASK_IT}",
    "expired": (
        f"The sign-in had already expired. Check your device's clock, then {_TRY_AGAIN.lower()}"
    ),
    "missing_iat": f"The sign-in does not say when it was issued. {_ASK_IT}",
    "issued_in_future": (
        f"The sign-in is dated in the future. Check your device's clock, then {_TRY_AGAIN.lower()}"
    ),
    "nonce_mismatch": f"The sign-in does not belong to the one you started. {_TRY_AGAIN}",
    # A back-channel logout token sent again (only ever answered to the provider, as JSON).
    "replayed_token": "This sign-out notice has been acted on already.",
    "missing_sub": f"The sign-in does not say who you are. {_ASK_IT}",
    "userinfo_failed": (
        f"We could not read your details from your organisation's sign-in service. {_TRY_AGAIN}"
    ),
    "userinfo_sub_mismatch": (
        "Your organisation's sign-in service described a different person than the one "
        f"who signed in. {_ASK_IT}"
    ),
    # The person and their organisation
    "consumer_tenant": (
        "You signed in with a personal Microsoft account. Sign in with your work account instead."
    ),
    "tenant_not_allowed": (
        "Your Microsoft organisation is not one this portal accepts for your "
        f"organisation. {_ASK_IT}"
    ),
    "hosted_domain_not_allowed": (
        "Your Google Workspace domain is not one this portal accepts for your "
        f"organisation. {_ASK_IT}"
    ),
    "mfa_required": (
        "This portal needs you to sign in with a second factor (such as an authenticator "
        "app or smartcard). Sign in again and use it."
    ),
    "suspended": f"Your account on this portal is suspended. {_ASK_IT}",
    "organisation_suspended": f"Your organisation's access to this portal is suspended. {_ASK_IT}",
    "organisation_left": (
        "Your organisation is no longer taking part in this portal. Contact the council's "
        "service desk if you think this is wrong."
    ),
}
