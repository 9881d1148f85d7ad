"""a witnessed Merkle tree log: events written without a lock, placed in an RFC 9162 tree by
the sequencer, signed tree heads kept by witnesses outside the database

The existing hash-chained events become the tree's first leaves, in their order, and the
chain's last head is kept for the first tree checkpoint to sign (docs/audit.md).

Revision: 0013
Revises: 0012
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NEW_APPEND_ONLY_TABLES = ("audit_leaves", "audit_tree_nodes", "audit_tree_heads")
WITNESS_TABLE = "audit_witness_records"
EVENT_NUMBERS = "audit_event_numbers"
BATCH = 5_000


def upgrade() -> None:
    _create_tables()
    _events_written_without_a_lock()
    for table in (*NEW_APPEND_ONLY_TABLES, WITNESS_TABLE):
        _make_append_only(table)
    _existing_events_become_the_first_leaves()
    _guard_the_sequencer_state()
    _events_carry_their_transaction()


def downgrade() -> None:
    connection = op.get_bind()
    unchained = connection.scalar(sa.text("SELECT count(*) FROM audit_events WHERE hash IS NULL"))
    if unchained:
        raise RuntimeError(
            f"{unchained} audit events were recorded in the tree log and have no chain hash: "
            "going below 0013 would leave them unprotected. Restore a backup taken before "
            "the upgrade instead."
        )
    _drop_guards()
    for table in (*NEW_APPEND_ONLY_TABLES, WITNESS_TABLE):
        _drop_append_only(table)
    _drop_append_only("audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_xact_seq"))
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch_op.drop_column("xact")
    _make_append_only("audit_events")
    if connection.dialect.name == "postgresql":
        op.execute(f"DROP SEQUENCE IF EXISTS {EVENT_NUMBERS}")
    for table in (WITNESS_TABLE, *reversed(NEW_APPEND_ONLY_TABLES), "audit_sequencer_state"):
        op.drop_table(table)


def _create_tables() -> None:
    op.create_table(
        "audit_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_leaves")),
        sa.UniqueConstraint("event_seq", name=op.f("uq_audit_leaves_event_seq")),
    )
    op.create_table(
        "audit_sequencer_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("low_xact", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("legacy_head_seq", sa.BigInteger(), nullable=True),
        sa.Column("legacy_head_hash", sa.LargeBinary(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_sequencer_state")),
    )
    op.create_table(
        "audit_tree_heads",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_tree_heads")),
    )
    op.create_table(
        "audit_tree_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_audit_tree_nodes")),
    )
    op.create_table(
        WITNESS_TABLE,
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "witness",
            sa.Enum(
                "store",
                "tsa",
                name="auditwitness",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("token", sa.LargeBinary(), nullable=True),
        sa.Column("witnessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", "witness", name=op.f("pk_audit_witness_records")),
    )


def _events_written_without_a_lock() -> None:
    """New events carry no chain hash, and their inserting transaction's id; on PostgreSQL
    they are numbered by a sequence that starts after the last event. Rebuilding the table
    (SQLite's way to change a column) drops its triggers: they are made again."""
    _drop_append_only("audit_events")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("xact", sa.BigInteger(), nullable=True))
        batch_op.alter_column("prev_hash", existing_type=sa.LargeBinary(32), nullable=True)
        batch_op.alter_column("hash", existing_type=sa.LargeBinary(32), nullable=True)
        batch_op.create_index(batch_op.f("ix_audit_events_xact_seq"), ["xact", "seq"])
    _make_append_only("audit_events")
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        last = connection.scalar(sa.text("SELECT coalesce(max(seq), 0) FROM audit_events"))
        op.execute(f"CREATE SEQUENCE {EVENT_NUMBERS} AS bigint START WITH {int(last) + 1}")


# The canonical encoding as it stands at this revision (migrations never import the app):
# portal/audit/chain.py, and RFC 9162's leaf and node hashes.
_FIELDS = (
    "seq",
    "occurred_at",
    "actor_user_id",
    "actor_organisation_id",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "case_reference",
    "outcome",
    "request_id",
    "client_address",
    "user_agent",
    "details",
)


def _leaf_hash(row: dict[str, Any]) -> bytes:
    fields = dict(row)
    moment: datetime = fields["occurred_at"]
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    fields["occurred_at"] = moment.isoformat(timespec="microseconds")
    for name in ("actor_user_id", "actor_organisation_id"):
        fields[name] = None if fields[name] is None else str(fields[name])
    if isinstance(fields["details"], str):
        fields["details"] = json.loads(fields["details"])
    encoding = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(b"\x00" + encoding.encode("ascii")).digest()


def _existing_events_become_the_first_leaves() -> None:
    """Leaf i is the event with the i-th smallest number (the chain's order), and every
    completed perfect subtree is kept; the chain's last event and head go to the sequencer's
    state, for the first tree checkpoint to sign."""
    connection = op.get_bind()
    typed = {"occurred_at": sa.DateTime(timezone=True), "details": sa.JSON()}
    events = sa.table(
        "audit_events",
        *(sa.column(name, typed.get(name)) for name in _FIELDS),
        sa.column("hash", sa.LargeBinary()),
    )
    leaves = sa.table(
        "audit_leaves", sa.column("leaf_index"), sa.column("event_seq"), sa.column("hash")
    )
    nodes = sa.table("audit_tree_nodes", sa.column("level"), sa.column("index"), sa.column("hash"))
    frontier: list[tuple[int, bytes]] = []  # (level, hash), the tree's right edge
    size, after, head = 0, 0, None
    while True:
        rows = connection.execute(
            sa.select(*(events.c[name] for name in _FIELDS), events.c.hash)
            .where(events.c.seq > after)
            .order_by(events.c.seq)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        new_leaves, new_nodes = [], []
        for row in rows:
            fields = {name: getattr(row, name) for name in _FIELDS}
            leaf = _leaf_hash(fields)
            new_leaves.append({"leaf_index": size, "event_seq": row.seq, "hash": leaf})
            new_nodes.extend(_append(frontier, size, leaf))
            size += 1
        connection.execute(leaves.insert(), new_leaves)
        if new_nodes:
            connection.execute(nodes.insert(), new_nodes)
        after, head = rows[-1].seq, rows[-1].hash
    connection.execute(
        sa.text(
            "INSERT INTO audit_sequencer_state (id, tree_size, low_xact, last_seq, "
            "legacy_head_seq, legacy_head_hash, updated_at) "
            "VALUES (1, :size, 0, :last, :head_seq, :head_hash, :now)"
        ),
        {
            "size": size,
            "last": after,
            "head_seq": after if head is not None else None,
            "head_hash": head,
            "now": datetime.now(UTC),
        },
    )


def _append(frontier: list[tuple[int, bytes]], index: int, leaf: bytes) -> list[dict[str, Any]]:
    """Add leaf `index` to the right edge; returns the perfect subtrees it completed."""
    completed = []
    level, current, position = 0, leaf, index
    while frontier and frontier[-1][0] == level:
        _, left = frontier.pop()
        current = hashlib.sha256(b"\x01" + left + current).digest()
        level, position = level + 1, position >> 1
        completed.append({"level": level, "index": position, "hash": current})
    frontier.append((level, current))
    return completed


def _guard_the_sequencer_state() -> None:
    """The sequencer's bookmark only moves forward, and only as far as the tree really goes:
    the app role may update it (migrations/env.py grants it nothing else), but not delete it,
    move it back, claim a tree bigger than its leaves, or put `low_xact` past transactions
    still running (which would leave their events out of the tree for ever)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_sequencer_state_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'UPDATE' THEN
                    RAISE EXCEPTION 'audit_sequencer_state: % refused', TG_OP
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                IF NEW.id <> OLD.id OR NEW.tree_size < OLD.tree_size
                    OR NEW.low_xact < OLD.low_xact OR NEW.last_seq < OLD.last_seq
                    OR NEW.legacy_head_seq IS DISTINCT FROM OLD.legacy_head_seq
                    OR NEW.legacy_head_hash IS DISTINCT FROM OLD.legacy_head_hash
                    OR NEW.tree_size <> (SELECT count(*) FROM audit_leaves)
                    OR NEW.low_xact > pg_snapshot_xmin(pg_current_snapshot())::text::bigint
                THEN
                    RAISE EXCEPTION 'audit_sequencer_state may only follow the tree forward'
                        USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_sequencer_state_forward BEFORE UPDATE OR DELETE "
            "ON audit_sequencer_state FOR EACH ROW EXECUTE FUNCTION audit_sequencer_state_guard()"
        )
        op.execute(
            "CREATE TRIGGER audit_sequencer_state_no_truncate BEFORE TRUNCATE "
            "ON audit_sequencer_state FOR EACH STATEMENT "
            "EXECUTE FUNCTION audit_sequencer_state_guard()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_sequencer_state_no_delete BEFORE DELETE ON audit_sequencer_state "
        "BEGIN SELECT RAISE(ABORT, 'audit_sequencer_state: DELETE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_sequencer_state_forward BEFORE UPDATE ON audit_sequencer_state "
        "WHEN NEW.id <> OLD.id OR NEW.tree_size < OLD.tree_size OR NEW.last_seq < OLD.last_seq "
        "OR NEW.tree_size <> (SELECT count(*) FROM audit_leaves) "
        "OR NEW.legacy_head_seq IS NOT OLD.legacy_head_seq "
        "OR NEW.legacy_head_hash IS NOT OLD.legacy_head_hash "
        "BEGIN SELECT RAISE(ABORT, 'audit_sequencer_state may only follow the tree forward'); END"
    )


def _events_carry_their_transaction() -> None:
    """On PostgreSQL every new event carries the id of the transaction that inserted it,
    whatever the client says; and an insert without one (a process still running the code
    from before this migration, which numbers events itself and chains them) is refused
    rather than left where the sequencer would never find it."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION audit_events_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.xact IS NULL THEN
                RAISE EXCEPTION 'audit_events: an event without its transaction id is refused '
                    '(a process started before migration 0013 must be restarted)'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            NEW.xact := pg_current_xact_id()::text::bigint;
            RETURN NEW;
        END;
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_transaction BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_transaction()"
    )


def _drop_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_transaction ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_transaction()")
        for trigger in ("audit_sequencer_state_forward", "audit_sequencer_state_no_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON audit_sequencer_state")
        op.execute("DROP FUNCTION IF EXISTS audit_sequencer_state_guard()")
        return
    for trigger in ("audit_sequencer_state_no_delete", "audit_sequencer_state_forward"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")


def _make_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_update_or_delete BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def _drop_append_only(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_or_delete ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    else:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
