"""What a check of the audit log found: counts, the witnesses' state, and its damage.

The kinds of damage (docs/audit.md has the table):

- `changed`: an event's columns no longer give the leaf hash the tree holds for it (or, for an
  event recorded before the tree, its chain hash);
- `deleted`: an event the tree names is missing, or a leaf of the tree is;
- `reordered`: an event moved: its columns give the leaf hash of a neighbouring leaf, or carry
  another leaf's event number;
- `truncated`: the log ends before a signed checkpoint's size, or every event after some point
  is gone;
- `rewritten`: the tree, recomputed, does not match a signed checkpoint; a checkpoint was
  forged, altered or deleted from the database; the old chain does not reach the head the
  first tree checkpoint signed;
- `witness`: the witnesses outside the database disagree with it or with themselves: a note
  the store holds that no trusted key signed, a note removed from the store, a time-stamp
  token that does not verify, a store that cannot be read;
- `unsigned`: events and no signed checkpoint at all, long after one was due;
- `hidden`: an event without a leaf that the sequencer will never place (recorded around the
  application, below its bookmark), so nothing vouches for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHANGED = "changed"
DELETED = "deleted"
REORDERED = "reordered"
TRUNCATED = "truncated"
REWRITTEN = "rewritten"
WITNESS = "witness"
UNSIGNED = "unsigned"
HIDDEN = "hidden"
KINDS = (CHANGED, DELETED, REORDERED, TRUNCATED, REWRITTEN, WITNESS, UNSIGNED, HIDDEN)


@dataclass(frozen=True)
class Damage:
    """One problem: its kind, the event number it concerns (None when it concerns a
    checkpoint rather than an event), a plain explanation, and where in the log it begins
    (a leaf index: the first damage reported is the earliest)."""

    kind: str
    seq: int | None
    explanation: str
    position: int = 0


@dataclass
class VerificationReport:
    """The result of `verify_log` or `verify_since`."""

    # Leaves whose event was recomputed, and the tree's size once they were.
    events_checked: int = 0
    tree_size: int = 0
    # Where the check started: 0 for a full check, a witnessed head's size for an
    # incremental one.
    from_size: int = 0
    heads_checked: int = 0
    witnessed: list[int] = field(default_factory=list)
    unwitnessed: list[int] = field(default_factory=list)
    # Events recorded but not in the tree: waiting for the sequencer, or hidden from it.
    unsequenced: int = 0
    legacy_events: int = 0
    legacy_checkpoints_checked: int = 0
    tokens_checked: int = 0
    store_configured: bool = False
    tsa_configured: bool = False
    problems: list[Damage] = field(default_factory=list)
    # Rows of audit_leaves read by the walk: what an incremental check's cost follows.
    leaves_read: int = 0

    @property
    def damage(self) -> Damage | None:
        """The first problem in the log's order (problems are kept sorted)."""
        return self.problems[0] if self.problems else None

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def last_witnessed(self) -> int | None:
        return max(self.witnessed) if self.witnessed else None

    @property
    def events_after_witnessed(self) -> int:
        """Events no witness outside the database vouches for yet: leaves after the last
        witnessed checkpoint, and events still waiting for the sequencer."""
        return self.tree_size - (self.last_witnessed or 0) + self.unsequenced

    def add(self, found: Damage | None) -> None:
        if found is not None:
            self.problems.append(found)
            self.problems.sort(key=lambda damage: damage.position)


def _events(count: int) -> str:
    return f"{count} event" if count == 1 else f"{count} events"


def summary_lines(report: VerificationReport) -> list[str]:
    """What was checked and what the witnesses vouch for, as plain sentences (the command's
    output; the page shows the same figures)."""
    start = f" after the first {report.from_size}" if report.from_size else ""
    heads = "checkpoint" if report.heads_checked == 1 else "checkpoints"
    lines = [
        f"Checked {_events(report.events_checked)}{start} of {report.tree_size} in the tree and "
        f"{report.heads_checked} signed {heads}"
        + (
            f"; {report.legacy_events} recorded before the tree by their old chain"
            if report.legacy_events
            else ""
        )  # fmt: skip
        + "."
    ]
    if not report.store_configured:
        lines.append("No witness store is configured ([audit] witness_directory): no checkpoint "
                     "is witnessed outside the database.")  # fmt: skip
    last = report.last_witnessed
    lines.append(
        f"Last witnessed checkpoint: {_events(last)}." if last is not None
        else "No checkpoint is witnessed yet."
    )  # fmt: skip
    lines.append(
        f"{_events(report.events_after_witnessed)} after it, which no witness vouches for yet "
        f"({report.unsequenced} of them still waiting to be placed in the tree)."
    )
    if report.unwitnessed:
        sizes = ", ".join(str(size) for size in report.unwitnessed[-10:])
        lines.append(f"Checkpoints not yet witnessed (their sizes): {sizes}.")
    return lines


def recorded_details(report: VerificationReport) -> dict[str, str | int | bool | None]:
    """The `audit_verified` event's details: what the IG home page and the next incremental
    check (`tree_size`) read."""
    damage = report.damage
    return {
        "intact": report.intact,
        "events_checked": report.events_checked,
        "tree_size": report.tree_size,
        "from_size": report.from_size,
        "checkpoints_checked": report.heads_checked,
        "last_witnessed": report.last_witnessed,
        "events_after_witnessed": report.events_after_witnessed,
        "damage": damage.kind if damage else None,
        "damage_seq": damage.seq if damage else None,
    }
