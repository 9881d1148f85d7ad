"""The chain's canonical encoding: exactly json.dumps with sorted keys, no spaces, ASCII."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.audit.chain import FIELDS, canonical_encoding

AWKWARD = 'quote " backslash \\ tab \t nul-ish \x01 del \x7f é 漢字 😀 </script>'


def fields(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(FIELDS)
    values |= {"seq": 12, "action": "sign_in", "outcome": "success", "details": {}}
    return values | changes


@pytest.mark.parametrize(
    "event",
    [
        fields(),
        fields(case_reference=AWKWARD, user_agent=AWKWARD),
        fields(details={"zeta": AWKWARD, "alpha": 1, "flag": False, "none": None, "é": "x"}),
        fields(seq=2**40, occurred_at="2026-11-23T04:25:28.000000+00:00"),
    ],
)
def test_the_encoding_is_sorted_compact_ascii_json(event: dict[str, Any]) -> None:
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert canonical_encoding(event) == expected.encode("ascii")


@pytest.mark.parametrize(
    "event",
    [{k: v for k, v in fields().items() if k != "seq"}, fields(extra="x")],
    ids=["missing", "extra"],
)
def test_an_encoding_needs_exactly_the_fields(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        canonical_encoding(event)
