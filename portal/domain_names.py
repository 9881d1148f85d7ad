"""E-mail domain names: one rule for every place one is typed (adding an organisation, its
access page, an identity provider's allowed domains), so that a domain accepted in one is
accepted in all."""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z]{{2,63}}")


def cleaned(given: str) -> str:
    """As stored: trimmed, lower case, without a leading @."""
    return given.strip().lower().lstrip("@")


def is_domain_name(domain: str) -> bool:
    """Whether a cleaned `domain` is a domain name: labels of letters, digits and inner
    hyphens, at least two of them, ending in a top-level domain of letters."""
    return len(domain) <= 253 and _DOMAIN.fullmatch(domain) is not None
