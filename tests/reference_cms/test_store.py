"""The reference CMS's storage: one record per idempotency key however many threads send it,
without opening (and checkpointing) the database for every operation."""

from __future__ import annotations

import threading
from pathlib import Path

from reference_cms.store import Case, CaseStore

CASE = "NCC-000001"
DIGEST = "0" * 64


def store_with_a_case(tmp_path: Path) -> CaseStore:
    store = CaseStore(tmp_path / "cms.db")
    store.add_case(Case(CASE, "Team", ()))
    return store


def test_connections_are_kept_so_the_write_ahead_log_is_not_checkpointed_each_time(
    tmp_path: Path,
) -> None:
    store = store_with_a_case(tmp_path)
    for number in range(5):
        store.receive_contribution(CASE, f"key-{number}", DIGEST, "{}")
    # Closing the last connection would have checkpointed the log into the database and
    # deleted it: the pool keeps one open between operations.
    assert (tmp_path / "cms.db-wal").exists()
    assert len(store.list_contributions()) == 5


def test_threads_sending_the_same_keys_get_one_record_each(tmp_path: Path) -> None:
    store = store_with_a_case(tmp_path)
    keys = [f"key-{number}" for number in range(20)]
    receipts: list[tuple[str, str, bool]] = []

    def send_all() -> None:
        for key in keys:
            receipt = store.receive_contribution(CASE, key, DIGEST, "{}")
            receipts.append((key, receipt.record.record_id, receipt.created))

    threads = [threading.Thread(target=send_all) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    records = store.list_contributions()
    assert sorted(record.idempotency_key for record in records) == sorted(keys)
    assert sum(created for _, _, created in receipts) == len(keys)
    first = {record.idempotency_key: record.record_id for record in records}
    assert all(first[key] == record_id for key, record_id, _ in receipts)
