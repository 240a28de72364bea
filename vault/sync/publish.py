"""Publishing: writing this device's new operations to its own log in the folder, one sealed
segment per batch, each chained to the one before.
"""

from __future__ import annotations

from vault.storage.store import Op
from vault.sync.layout import SEGMENT, SNAPSHOT, chain_file_name, content_hash
from vault.sync.remote import Entry
from vault.sync.run_state import OPS_PER_SEGMENT, RunState
from vault.sync.segments import seal_file
from vault.sync.state import PUBLISHED_ACKS, RESERVED, FileRecord, SyncState


class Publish(RunState):
    """The pushing phase of a run (see the module docstring)."""

    # --- pushing ---------------------------------------------------------------------------

    def _next_seq(self) -> int:
        """A position never used before, even by a run that was killed before recording (it
        reserved the position first). Names in the folder are not trusted for this: a file
        of ours that verified is recorded, and one that did not is damaged and goes."""
        mine = self.files.get(self.me, {})
        return max([*mine, self._reserved()], default=0) + 1

    def _prev_hash(self, seq: int) -> str:
        recs = self.files.get(self.me, {}).get(seq - 1, [])
        return recs[0].hash if recs else ""

    def _push(self) -> None:
        acks = self._my_acks()
        published = self.state.get_json(PUBLISHED_ACKS, {})
        need_ack = any(
            seq - published.get(d, 0) >= self.engine.ack_lag
            or any(
                r.kind == SNAPSHOT and s > published.get(d, 0)
                for s, recs in self.files.get(d, {}).items()
                for r in recs
            )
            for d, seq in acks.items()
        )
        if self.t.pulled or self.state.cursor() == 0:
            # Operations that came in are in the folder already: move the cursor past them,
            # so the next look for unsent changes starts from here.
            with self.store.transaction() as db:
                self.state.advance_cursor(db)
        total = self.state.unpushed_count()
        done = 0
        refused: set[str] = set()
        while True:
            batch = self.state.unpushed(OPS_PER_SEGMENT + len(refused))
            ops, bad = self._sendable([op for op in batch if op.op_id not in refused])
            refused.update(op.op_id for op in bad)
            if bad and ops:
                ops = ops[:OPS_PER_SEGMENT]
            elif bad:
                continue  # fetch again past the refused ones
            if not ops and not need_ack:
                break
            if total:
                self.progress("sending", done, total)
            self._write_own(SEGMENT, ops, acks)
            done += len(ops)
            self.t.pushed += len(ops)
            need_ack = False
        if total:
            self.progress("sending", total, total)

    def _write_own(self, kind: str, ops: list[Op], acks: dict[str, int]) -> FileRecord:
        seq = self._next_seq()
        data = seal_file(
            self.key,
            self.vault.vault_id,
            device=self.me,
            seq=seq,
            kind=kind,
            prev=self._prev_hash(seq),
            ops=ops,
            acks=acks,
            wall=self.engine.clock(),
        )
        digest = content_hash(data)
        rec = FileRecord(self.me, seq, digest, kind, len(data))
        with self.store.transaction() as db:
            SyncState.set_meta(db, RESERVED, f"{self.me}:{seq}")
        self.remote.write(self.me, chain_file_name(seq, digest, kind), data)
        self.t.written += 1
        with self.store.transaction() as db:
            SyncState.mark_known(db, [op.op_id for op in ops], mine=True)
            SyncState.record_file(db, rec)
            self.state.advance_cursor(db)
            SyncState.set_json(db, PUBLISHED_ACKS, acks)
        self.files.setdefault(self.me, {}).setdefault(seq, []).append(rec)
        name = chain_file_name(seq, digest, kind)
        mtime = self.remote.mtime_ns(self.me, name)
        self.own_listed[name] = Entry(name, rec.size, mtime or 0)
        if mtime is not None:
            self.own_seen[name] = mtime  # just written with these bytes: no need to read it
        return rec
