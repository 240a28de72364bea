"""Tidying after a run: compacting this device's log into a snapshot once the others have
read it, removing its own files nothing needs any more, and erasing purged history.
"""

from __future__ import annotations

from vault.errors import IntegrityError, UnsupportedFormatError, VaultError
from vault.sync import rotation
from vault.sync.layout import SNAPSHOT, chain_file_name, content_hash
from vault.sync.publish import Publish
from vault.sync.remote import Unreadable
from vault.sync.run_state import DAY_MS, judged_size, record_name, wrote
from vault.sync.state import JUDGED, OWN_SEEN, SyncState


class Tidy(Publish):
    """Compaction and removal (see the module docstring); it writes through `Publish`."""

    # --- compaction and repair ---------------------------------------------------------------

    def _compact(self) -> None:
        """Snapshot this device's log when it grows long (or lost a file), and remove the
        files the snapshot replaces once every active device has applied them; files below
        the snapshot before it go whatever the acknowledgements (see below)."""
        mine = self.files.setdefault(self.me, {})
        snaps = [s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)]
        last_snap = max(snaps, default=0)
        resnap = self.store.meta(rotation.RESNAP) == "1"  # the key changed: old files go
        if (
            self.damaged
            or resnap
            or sum(1 for s in mine if s > last_snap) > self.engine.compact_after
        ):
            ops, bad = self._sendable(list(self.state.my_ops()))
            if bad:
                # A snapshot without them would replace the files that hold them: keep the
                # log as it is until the store is repaired.
                return
            self._write_own(SNAPSHOT, ops, self._my_acks())
            if resnap:
                with self.store.transaction() as db:
                    SyncState.set_meta(db, rotation.RESNAP, "")
            self.t.repaired += len(self.damaged)
            for bad in self.damaged:
                # The snapshot holds everything the lost or damaged file held. A damaged file
                # is left where it is: its bytes are not what this device wrote, so nothing
                # shows it is ours to delete (readers skip it: the snapshot covers its place).
                with self.store.transaction() as db:
                    SyncState.forget_file(db, bad)
                if bad in mine.get(bad.seq, []):
                    mine[bad.seq].remove(bad)
                    if not mine[bad.seq]:
                        del mine[bad.seq]
            self.damaged = []
        # Below the newest snapshot once every active device applied it. Below the one before
        # it in any case: a device that far behind reads the newest snapshot (which holds
        # everything) rather than the files before it, so a device that stays silent cannot
        # make the folder grow by a snapshot every compact_after files.
        snaps = sorted(s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs))
        if snaps and self._acknowledged(snaps[-1]):
            floor = snaps[-1]
        else:
            floor = snaps[-2] if len(snaps) > 1 else 0
        old = [r for s, recs in mine.items() if s < floor for r in recs]
        for rec in old:
            left = self.remote.delete(self.me, record_name(rec), check=wrote(rec))
            if left is None:
                self.t.removed += 1
            else:
                self.t.warnings.append(f"left {record_name(rec)} in this device's log: {left}")
        if old:
            with self.store.transaction() as db:
                SyncState.forget_files(db, self.me, floor)
            for s in [s for s in mine if s < floor]:
                del mine[s]

    def _tidy(self) -> None:
        """Remove the daemons' copies of this device's files once everything in them is in
        the log under its real name (only this device writes here, so only it may)."""
        for entry in self.own_odd:
            key = f"{self.me}/{entry.name}"
            if judged_size(self.judged.get(key)) == entry.size:
                continue
            if not self.budget.allows(entry.size):
                continue  # looked at on a later run
            try:
                data = self.remote.read(self.me, entry.name)
                self.budget.spend(entry.size)
                chain = self._open_chain(data, entry.name, True)
            except (Unreadable, IntegrityError, UnsupportedFormatError):
                self.judged[key] = entry.size  # not ours, or still arriving: look again if it grows
                continue
            self.t.read += 1
            if chain.device == self.me and self.state.published([o.op_id for o in chain.ops]):
                # Authenticated as this device's own file. If the file under its own name is
                # missing or damaged (a daemon let a corrupt copy win the name), the copy is
                # the good one: it takes the name back. Otherwise it goes, if it still holds
                # those bytes.
                name = chain_file_name(chain.seq, content_hash(data), chain.kind)
                restored = self.remote.restore(self.me, entry.name, name, good=data.__eq__)
                if restored is None:
                    self.t.repaired += 1
                    self.judged.pop(key, None)
                    self.own_seen.pop(name, None)
                    self.damaged = [d for d in self.damaged if record_name(d) != name]
                    continue
                if self.remote.delete(self.me, entry.name, check=data.__eq__) is None:
                    self.judged.pop(key, None)
                else:
                    self.judged[key] = entry.size
        if self.judged != self.state.get_json(JUDGED, {}):
            with self.store.transaction() as db:
                SyncState.set_json(db, JUDGED, self.judged)
        seen = {n: t for n, t in self.own_seen.items() if n in self.own_listed}
        if seen != self.state.get_json(OWN_SEEN, {}):
            with self.store.transaction() as db:
                SyncState.set_json(db, OWN_SEEN, seen)

    def _acknowledged(self, seq: int) -> bool:
        """Has every active device applied this device's log up to `seq`? A device silent for
        retire_days (by its own clock) is not waited for: it will read the snapshot."""
        horizon = self.engine.clock() - self.engine.retire_days * DAY_MS
        for device in self.visible:
            if self.walls.get(device, 0) < horizon and device in self.walls:
                continue
            if self.acks.get(device, {}).get(self.me, 0) < seq:
                return False
        return True

    def _erase_purged(self) -> None:
        """A deletion that arrived and settled the item (no competing version) erases the
        sealed content of its older versions here too, as the purge did where it was made,
        and the snapshot (which holds them too) goes, as it did there."""
        erased = False
        for item_id in self.t.tombstoned:
            # One transaction: a version saved meanwhile (the app, another process) must not
            # land between the check and the erasing, or its content would be erased too.
            with self.store.transaction():
                row = self.store.item(item_id)
                if row is not None and row.deleted and len(self.store.heads(item_id)) == 1:
                    try:
                        self.vault.open_op(row)
                    except VaultError:
                        continue
                    older = [o for o in self.store.history(item_id) if o.op_id != row.op_id]
                    self.store.erase_history(self.vault.erasures(older))
                    erased = True
        if erased:
            self.vault.drop_snapshot()
