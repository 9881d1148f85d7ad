"""Unit tests for portal.lifecycle: every status change is allowed or refused as specified."""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from portal.lifecycle import (
    CONTRIBUTION_LIFECYCLE,
    OUTBOX_LIFECYCLE,
    REQUEST_LIFECYCLE,
    ContributionStatus,
    DomainError,
    Lifecycle,
    OutboxStatus,
    RequestStatus,
    TransitionRefused,
)

# The specification, written out by hand so that a change to portal/lifecycle.py has to be made
# here too, on purpose. Pairs are (from, to) status values.
EXPECTED_REQUEST = {
    ("issued", "in_progress"),
    ("issued", "submitted"),
    ("issued", "revoked"),
    ("issued", "expired"),
    ("issued", "child_not_known"),  # the partner knows none of the children (issue 17)
    ("in_progress", "submitted"),
    ("in_progress", "revoked"),
    ("in_progress", "expired"),
    ("in_progress", "child_not_known"),
    ("submitted", "returned"),
    ("submitted", "accepted"),
    ("submitted", "rejected"),
    ("submitted", "revoked"),
    ("returned", "in_progress"),
    ("returned", "submitted"),
    ("returned", "revoked"),
    ("returned", "expired"),
    ("accepted", "delivered"),
}

EXPECTED_CONTRIBUTION = {
    ("draft", "submitted"),
    ("draft", "discarded"),
    ("submitted", "returned"),
    ("submitted", "accepted"),
    ("submitted", "rejected"),
    ("accepted", "delivered"),
}

EXPECTED_OUTBOX = {
    ("pending", "delivered"),
    ("pending", "dead_lettered"),
    ("dead_lettered", "pending"),
    ("dead_lettered", "cancelled"),
    ("dead_lettered", "delivered"),
    ("cancelled", "delivered"),
}

TERMINAL_REQUEST = {"delivered", "rejected", "revoked", "expired", "child_not_known"}
TERMINAL_CONTRIBUTION = {"returned", "rejected", "delivered", "discarded"}
TERMINAL_OUTBOX = {"delivered"}

# (lifecycle, status enum, allowed pairs, terminal statuses, kind named in messages)
CASES: dict[str, tuple[Lifecycle, type[enum.Enum], set[tuple[str, str]], set[str], str]] = {
    "request": (
        REQUEST_LIFECYCLE,
        RequestStatus,
        EXPECTED_REQUEST,
        TERMINAL_REQUEST,
        "delegation request",
    ),
    "contribution": (
        CONTRIBUTION_LIFECYCLE,
        ContributionStatus,
        EXPECTED_CONTRIBUTION,
        TERMINAL_CONTRIBUTION,
        "contribution",
    ),
    "outbox": (OUTBOX_LIFECYCLE, OutboxStatus, EXPECTED_OUTBOX, TERMINAL_OUTBOX, "CMS delivery"),
}


@dataclass
class Thing:
    """Anything with a status, as the lifecycle sees a model row."""

    status: enum.Enum


def every_pair() -> list[Any]:
    params = []
    for name, (_, status_enum, _, _, _) in CASES.items():
        for current, target in itertools.product(status_enum, status_enum):
            params.append(
                pytest.param(name, current, target, id=f"{name}:{current.value}->{target.value}")
            )
    return params


@pytest.mark.parametrize("name", CASES)
def test_specification_names_only_real_statuses(name: str) -> None:
    _, status_enum, expected, terminal, _ = CASES[name]
    values = {status.value for status in status_enum}
    assert {value for pair in expected for value in pair} <= values
    assert terminal <= values


@pytest.mark.parametrize("name", CASES)
def test_every_status_has_an_entry_in_its_table(name: str) -> None:
    lifecycle, status_enum, _, _, _ = CASES[name]
    assert set(lifecycle.transitions) == set(status_enum)


@pytest.mark.parametrize("name", CASES)
def test_allowed_transitions_are_exactly_the_specification(name: str) -> None:
    lifecycle, status_enum, expected, _, _ = CASES[name]
    allowed = {
        (current.value, target.value)
        for current, target in itertools.product(status_enum, status_enum)
        if lifecycle.allows(current, target)
    }
    assert allowed == expected


@pytest.mark.parametrize(("name", "current", "target"), every_pair())
def test_move(name: str, current: enum.Enum, target: enum.Enum) -> None:
    lifecycle, _, expected, _, kind = CASES[name]
    thing = Thing(status=current)
    if (current.value, target.value) in expected:
        assert lifecycle.allows(current, target)
        lifecycle.move(thing, target)
        assert thing.status is target
        return
    assert not lifecycle.allows(current, target)
    with pytest.raises(DomainError) as caught:
        lifecycle.move(thing, target)
    refusal = caught.value
    assert isinstance(refusal, TransitionRefused)
    assert thing.status is current
    assert refusal.current is current
    assert refusal.target is target
    assert str(refusal) == f"A {kind} cannot go from {current.value} to {target.value}."


@pytest.mark.parametrize("name", CASES)
def test_terminal_statuses_are_final_and_no_others(name: str) -> None:
    lifecycle, status_enum, _, terminal, _ = CASES[name]
    final = {status.value for status in status_enum if lifecycle.is_final(status)}
    assert final == terminal


@pytest.mark.parametrize("name", CASES)
def test_nothing_leaves_a_final_status(name: str) -> None:
    _, _, expected, terminal, _ = CASES[name]
    assert not {current for current, _ in expected} & terminal


def test_check_refuses_without_a_thing() -> None:
    with pytest.raises(TransitionRefused):
        REQUEST_LIFECYCLE.check(RequestStatus.DELIVERED, RequestStatus.ISSUED)
    REQUEST_LIFECYCLE.check(RequestStatus.ISSUED, RequestStatus.SUBMITTED)
