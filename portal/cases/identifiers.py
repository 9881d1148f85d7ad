"""A child's consistent identifiers: the NHS number and a pupil's unique pupil number (UPN).

Check digits are python-stdnum's (`stdnum.gb.nhs`, `stdnum.gb.upn`): the NHS number's modulus-11
check digit and the UPN's modulus-23 check letter, as NHS England and the Department for
Education define them. An identifier that fails its check is refused, never stored or matched
on. Both are kept in one canonical form: the NHS number as its 10 digits, the UPN as its 13
characters in capitals; they are shown in the form people read them from their own systems.
"""

from __future__ import annotations

import enum

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.gb import nhs, upn


class ChildIdentifier(enum.StrEnum):
    NHS_NUMBER = "nhs_number"
    UPN = "upn"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def a_label(self) -> str:
        """The label with its article, for a sentence: "an NHS number", "a UPN"."""
        return f"{'an' if self is ChildIdentifier.NHS_NUMBER else 'a'} {self.label}"


_LABELS = {ChildIdentifier.NHS_NUMBER: "NHS number", ChildIdentifier.UPN: "UPN"}
# The sealed column of `portal.models.Child` each identifier is kept in (canonical form).
SEALED_COLUMN = {ChildIdentifier.NHS_NUMBER: "nhs_number_enc", ChildIdentifier.UPN: "upn_enc"}


class InvalidIdentifier(ValueError):
    """The identifier is not a valid one; the message says why and is safe to show (it never
    repeats the value)."""


def nhs_number(text: str) -> str:
    """The NHS number's 10 digits, from what a person or a system wrote ("943 476 5919",
    "943-476-5919"), or InvalidIdentifier."""
    if not text.strip():
        raise InvalidIdentifier("An NHS number must be 10 digits")
    try:
        return str(nhs.validate(text))
    except InvalidLength:
        raise InvalidIdentifier("An NHS number must be 10 digits") from None
    except InvalidFormat:
        raise InvalidIdentifier("An NHS number must contain only digits and spaces") from None
    except InvalidChecksum:
        raise InvalidIdentifier(
            "This is not a valid NHS number: check the digits (the last one is a check digit)"
        ) from None
    except StdnumError:
        raise InvalidIdentifier("This is not a valid NHS number") from None


def unique_pupil_number(text: str) -> str:
    """The UPN's 13 characters in capitals, or InvalidIdentifier.

    python-stdnum also refuses a UPN whose characters 2 to 4 are not on its list of local
    authority numbers, but that list is from 2011: it lacks the authorities made since (Dorset,
    the Northamptonshires, Cumberland…), and a pupil keeps the UPN an abolished authority's
    school gave them. So an unknown authority number is accepted when the check letter fits.
    """
    try:
        return str(upn.validate(text))
    except InvalidComponent:
        number = str(upn.compact(text))
        if upn.calc_check_digit(number[1:]) == number[0]:
            return number
        raise InvalidIdentifier(_UPN_CHECK_LETTER) from None
    except InvalidLength:
        raise InvalidIdentifier("A UPN must be 13 characters") from None
    except InvalidFormat:
        raise InvalidIdentifier(
            "A UPN must be a check letter followed by 11 digits and a final digit or letter"
        ) from None
    except InvalidChecksum:
        raise InvalidIdentifier(_UPN_CHECK_LETTER) from None
    except StdnumError:
        raise InvalidIdentifier("This is not a valid UPN") from None


_UPN_CHECK_LETTER = "This is not a valid UPN: its first letter does not match the rest"


def canonical(identifier: ChildIdentifier, text: str) -> str:
    """The identifier in its stored form, or InvalidIdentifier."""
    if identifier is ChildIdentifier.NHS_NUMBER:
        return nhs_number(text)
    return unique_pupil_number(text)


def shown(identifier: ChildIdentifier, value: str) -> str:
    """How people read it: an NHS number in groups of 3, 3 and 4 digits; a UPN as it is."""
    if identifier is ChildIdentifier.NHS_NUMBER:
        return str(nhs.format(value))
    return value
