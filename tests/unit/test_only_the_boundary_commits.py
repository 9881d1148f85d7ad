"""No module outside the request boundary and the background commands ends a transaction.

In a web request portal/db.py commits (on success) or rolls back (on an error response); an
audited read that must outlive an error is queued with record_lasting_event. A view or service
that committed by hand could keep half of a refused change, or lose an audit event the day it
forgot to. This test reads every module's source: a commit() call, or a `with ….begin()` block
(which commits as it leaves), anywhere but the modules listed here fails it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Each with the reason it may end a transaction of its own.
MAY_COMMIT = {
    "db.py": "the request boundary",
    "auth/sessions.py": "the server-side session store, which the boundary opens and saves",
    "audit/sequencer_service.py": "the audit sequencer, a background process: a pass per commit",
    "audit/witnessing.py": "the sequencer's witnessing: no transaction held while a witness works",
    "cli": "the `portal` command: each command is its own unit of work",
    "connector/worker.py": "the delivery worker, a background process",
    "connector/case_refresh.py": "the delivery worker's refresh of a case, in its process",
    "disarm/worker.py": "the disarm worker, a background process",
    "notifications/worker.py": "the e-mail sender, a background process",
    "retention/shredding.py": "the retention run, a background command",
    "crypto/rotation.py": "key rotation, a background command",
    "crypto/rewrap.py": "rewrapping data keys, a background command",
    "schema.py": "migrations and the start-up schema check",
}


def transaction_ends(source: str) -> list[int]:
    """Line numbers of commit() calls and of `with x.begin()` blocks in the source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _calls(node, "commit"):
            found.append(node.lineno)
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if isinstance(item.context_expr, ast.Call) and _calls(item.context_expr, "begin"):
                    found.append(node.lineno)
    return sorted(found)


def _calls(call: ast.Call, name: str) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr == name


def _allowed(relative: str) -> bool:
    return any(relative == path or relative.startswith(path + "/") for path in MAY_COMMIT)


def test_only_the_boundary_and_background_commands_end_a_transaction() -> None:
    offenders = [
        f"portal/{path.relative_to(PORTAL)}:{line}"
        for path in sorted(PORTAL.rglob("*.py"))
        if not _allowed(path.relative_to(PORTAL).as_posix())
        for line in transaction_ends(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "These end a transaction outside the request boundary: queue an audit event that must "
        "outlive an error with record_lasting_event, and let portal/db.py commit. "
        + ", ".join(offenders)
    )


def test_every_module_allowed_to_commit_still_does() -> None:
    """So that the list above shrinks when a module stops committing."""
    idle = [
        path
        for path in MAY_COMMIT
        if not any(
            transaction_ends(module.read_text(encoding="utf-8"))
            for module in (
                (PORTAL / path).rglob("*.py") if (PORTAL / path).is_dir() else [PORTAL / path]
            )
        )
    ]
    assert not idle


def test_a_view_that_commits_is_caught() -> None:
    view = (
        "def show(reference):\n"
        "    record_event(db.session(), AuditAction.REQUEST_VIEWED)\n"
        "    db.session().commit()\n"
        "    with db.database().sessions.begin() as apart:\n"
        "        record_event(apart, AuditAction.REQUEST_VIEWED)\n"
    )
    assert transaction_ends(view) == [3, 4]
    assert transaction_ends("with session.begin_nested():\n    pass\n") == []
