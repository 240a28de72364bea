"""The upgrade of a format version 1 vault to version 2, in place, at its first unlock.

Version 2 seals every operation with its claims (vault.sealing.envelope, "version 2"), which needs
the master key, so the upgrade runs when a person unlocks the vault, not when a keyless command
opens it. It is crash-safe by construction:

1. One SQLite transaction seals every operation anew (a v1 envelope is opened and sealed again
   with the row's claims; a tombstone gets a sealed tombstone, content erased by a purge a
   sealed erasure) and sets the store's schema to 4. Until it commits the vault is version 1,
   whole; a kill during it leaves exactly that, and the next unlock starts again.
2. Then vault.json is rewritten (atomically) to say version 2. A kill between the commit and
   this leaves a header that says 1 over a store that says 4: `Store.open` rewrites the header.

A version 1 program meets schema 4 or header v2 and refuses with "upgrade vault".

The claims sealed are the ones the version 1 store holds: the upgrade cannot know whether an
attacker edited them before it ran. From then on they cannot be changed unnoticed.
"""

from __future__ import annotations

from collections.abc import Callable

from vault.errors import VaultError
from vault.sealing import crypto, snapshot
from vault.sealing.envelope import upgrade_envelope
from vault.storage.store import SCHEMA_VERSION, Store, ops_commitment, store_ops_sum, write_header

# Called with the name of each step ("op" after each operation sealed, "sealed" before the
# commit, "committed", "header"): a test hook to stop the upgrade at a chosen point.
StepHook = Callable[[str], None]


def upgrade(store: Store, master_key: bytes, *, on_step: StepHook | None = None) -> int:
    """Upgrade `store` to format version 2 if it is older; returns how many operations were
    sealed anew. Operations whose v1 envelope does not open are left as they were (they were
    damaged before; reads keep reporting them)."""
    step = on_step or (lambda name: None)
    if not store.needs_upgrade:
        return 0
    items_key = crypto.subkey(master_key, crypto.Label.ITEMS)
    sealed = 0
    with store.transaction() as db:
        # Read again inside the write lock: another process may have upgraded meanwhile.
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and int(row[0]) >= SCHEMA_VERSION:
            return 0
        for op in store.all_ops():
            try:
                envelope = upgrade_envelope(items_key, store.vault_id, op.claims, op.envelope)
            except VaultError:
                continue
            db.execute("UPDATE ops SET envelope = ? WHERE op_id = ?", (envelope, op.op_id))
            sealed += 1
            step("op")
        db.execute(
            "UPDATE items SET envelope = (SELECT envelope FROM ops WHERE ops.op_id = items.op_id)"
        )
        # The commitment over every row starts here, with the rows as the upgrade found them.
        rows = db.execute("SELECT op_id, item_id, kind, parents, deleted, device FROM ops")
        commit_key = crypto.subkey(master_key, crypto.Label.OPS_SUM)
        store_ops_sum(db, ops_commitment(commit_key, rows))
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        step("sealed")
    step("committed")
    write_header(store.path, store.vault_id)
    step("header")
    # Its entries were checked by version 1 rules only; locking seals a new one.
    snapshot.destroy(store.path)
    return sealed
