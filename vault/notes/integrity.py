"""Integrity: the keyed commitment over the history, and `vault check`.

A vault's rows must match the commitment kept with every write (FORMAT.md, "The commitment
over the operations"); `check` verifies every operation against what its row claims.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from vault.errors import VaultError
from vault.sealing.envelope import is_erased, short
from vault.storage.store import (
    HISTORY_INCIDENT,
    HistoryScan,
    Op,
    Store,
    commitment_of,
    ops_commitment,
    store_ops_sum,
)


@dataclass(frozen=True)
class CheckReport:
    items: int
    versions: int
    corrupt: dict[str, str]  # item id -> one-line reason
    conflicts: list[str]
    history: str | None = None  # the history was altered without the key (Vault.history_incident)
    blobs: int = 0  # attachments' blobs here, checked whole
    damaged_blobs: dict[str, str] = field(default_factory=dict)  # blob name -> one-line reason
    # key slot files that cannot be read (skipped: the other slots still open the vault)
    damaged_slots: dict[str, str] = field(default_factory=dict)  # file name -> reason

    @property
    def ok(self) -> bool:
        damaged = self.corrupt or self.damaged_blobs or self.damaged_slots
        return not damaged and self.history is None


def check_commitment(store: Store, scan: HistoryScan) -> str | None:
    """The rows must match the keyed commitment kept with every write. A mismatch means
    rows were removed, added or changed without the key (or the store was put back to an
    older copy): it is reported at this and every later opening until `vault check` has
    shown it, and the commitment is made anew over the rows as they are, so later writes
    keep it true."""
    key = store.commit_key
    assert key is not None
    computed = commitment_of(key, scan.prepare().prepared["messages"])
    recorded = store.ops_sum()
    if recorded == computed or (recorded is None and not scan.count):
        return store.meta(HISTORY_INCIDENT)
    message = (
        "this vault's history was altered without the key (versions removed, or the store "
        "put back to an older copy); your other devices and backups still hold what they "
        "had: compare, and restore from a backup or clone again if notes are missing"
    )
    with store.transaction() as db:
        # The rows and the commitment were read apart, outside a transaction: another
        # process's commit between the two reads looks like tampering (a `vault tag rename`
        # beside the session agent did). Under the write lock nothing can change: read both
        # again, and report only what is still wrong there.
        rows = store.scan_history(rebuild=False).rows
        computed = ops_commitment(key, rows)
        recorded = store.ops_sum()
        if recorded == computed or (recorded is None and not rows):
            return store.meta(HISTORY_INCIDENT)
        store_ops_sum(db, computed)
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (HISTORY_INCIDENT, message),
        )
    return message


def forget_incident(store: Store) -> None:
    """`vault check` has shown the incident: later openings stop repeating it."""
    with store.transaction() as db:
        db.execute("DELETE FROM meta WHERE key = ?", (HISTORY_INCIDENT,))


def check(
    store: Store,
    open_op: Callable[[Op], dict[str, Any]],
    index_repaired: Iterable[str],
    history_incident: str | None,
    progress: Callable[[int, int | None], None] | None = None,
) -> CheckReport:
    """Verify every operation of every item against what its row claims (op id, item,
    kind, parents, deleted, device), and the index against the operations; report what
    does not verify. `progress(done, total)` is called every 256 operations: it may raise
    to stop the check there (the app's lock does)."""
    corrupt: dict[str, str] = {}
    for item_id in index_repaired:
        corrupt[item_id] = (
            f"item {short(item_id)}: the store's index of its history had been altered "
            "(tampered); it was rebuilt from the sealed history"
        )
    repaired, headless = store.check_index()
    for item_id in repaired | headless:
        corrupt.setdefault(
            item_id,
            f"item {short(item_id)} has no current version: its history rows were "
            "altered (tampered)",
        )
    versions = 0
    total = store.counts()["versions"] if progress is not None else None
    for done, op in enumerate(store.all_ops()):
        if progress is not None and not done % 256:
            progress(done, total)
        try:
            payload = open_op(op)
        except VaultError as exc:
            corrupt.setdefault(op.item_id, str(exc))
            continue
        versions += not op.deleted and not is_erased(payload)
    rows = store.items(include_deleted=True)
    conflicts = [r.item_id for r in rows if r.conflict]
    live = sum(1 for r in rows if not r.deleted)
    store.slots()  # (reads them all again: `damaged_slots` as they are now)
    return CheckReport(
        live,
        versions,
        corrupt,
        conflicts,
        history_incident,
        damaged_slots=dict(store.damaged_slots),
    )
