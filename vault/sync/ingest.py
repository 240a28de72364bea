"""Pulling: reading what other devices wrote to the folder and applying it, and checking this
device's own files there (adopting, repairing or rotating away from damaged ones).
"""

from __future__ import annotations

from vault.errors import IntegrityError, RemoteError, UnsupportedFormatError
from vault.sealing import crypto
from vault.sealing.envelope import short
from vault.sync import layout
from vault.sync.layout import SEGMENT, SNAPSHOT, ChainName, chain_file_name, content_hash
from vault.sync.reading import ReadBudget, prune
from vault.sync.remote import Entry, Unreadable
from vault.sync.report import Pending
from vault.sync.run_state import Candidate, RunState, covered_upto, judged_size, positions
from vault.sync.segments import ChainFile, read_header
from vault.sync.state import JUDGED, FileRecord, SyncState


class Ingest(RunState):
    """The pulling phase of a run (see the module docstring)."""

    # --- pulling ---------------------------------------------------------------------------

    def _pull(self) -> None:
        devices = self.remote.devices()
        listings: dict[str, list[Entry]] = {}
        for device in sorted({*devices, self.me}):
            # One device's folder that is not a real folder, or cannot be listed, holds back
            # that device only: the others are still read, and this device still sends.
            try:
                listings[device] = self.remote.list_files(device)
            except RemoteError as exc:
                if device == self.me:
                    self.own_refused = str(exc)
                    self.t.warnings.append(f"nothing was sent: {exc}")
                else:
                    self.t.pending.append(Pending(device, "its log folder", str(exc)))
        if self.own_refused is None:
            self._check_own(listings.get(self.me, []))
        plans: list[tuple[str, list[Candidate]]] = []
        for device in devices:
            if device == self.me or device not in listings:
                continue
            if listings[device]:
                self.visible.add(device)
            plans.append((device, self._plan(device, listings[device])))
        for device in sorted(set(self.files) - set(devices) - {self.me}):
            self._plan(device, [])  # a whole device folder gone: reported there
        total = sum(len(c) for _, c in plans)
        done = 0
        if total:
            self.progress("receiving", 0, total)
        for device, candidates in plans:
            for cand in candidates:
                self._apply(device, cand)
                done += 1
                self.progress("receiving", done, total)
            snap, below = self.replaced.get(device, (0, []))
            recorded = self.files.get(device, {}).get(snap, [])
            if below and not any(r.kind == SNAPSHOT for r in recorded):
                # The snapshot could not be used (not whole yet, damaged, or not a snapshot
                # at all): read the files it would have replaced instead.
                total += len(below)
                for cand in below:
                    self._apply(device, cand)
                    done += 1
                    self.progress("receiving", done, total)
        for device, entry, (seq, digest) in self.copies:
            # The same bytes as a canonical file: they show its position if that file verified.
            applied = any(r.hash == digest for r in self.files.get(device, {}).get(seq, []))
            self.judged[f"{device}/{entry.name}"] = [entry.size, seq] if applied else entry.size
        # What was judged or refused of files no longer in the folder is forgotten.
        names = {device: [e.name for e in entries] for device, entries in listings.items()}
        self.judged = prune(self.judged, names)
        self.rejected.entries = prune(self.rejected.entries, names)
        with self.store.transaction() as db:
            if self.judged != self.state.get_json(JUDGED, {}):
                SyncState.set_json(db, JUDGED, self.judged)
            self.rejected.save(db)

    def _plan(self, device: str, entries: list[Entry]) -> list[Candidate]:
        """Which of a device's files to read, in chain order; reports gaps and rollbacks."""
        known = self.files.get(device, {})
        known_keys = {(r.seq, r.hash) for recs in known.values() for r in recs}
        by_key: dict[tuple[int, str], Candidate] = {}
        copied: set[int] = set()  # positions shown only by copies judged before
        for entry in entries:
            name = layout.parse_chain_name(entry.name)
            if name is not None:
                by_key.setdefault((name.seq, name.hash), Candidate(name, entry))
            else:
                cand = self._judge_odd(device, entry, known_keys)
                judged = self.judged.get(f"{device}/{entry.name}")
                if isinstance(judged, list) and judged[0] == entry.size:
                    copied.add(judged[1])
                if cand is None:
                    continue
                key = (cand.name.seq, cand.name.hash)
                if key in by_key:  # the same bytes under another name: nothing more in it
                    self.copies.append((device, entry, key))
                else:
                    by_key[key] = cand
        visible_max = max([*(seq for seq, _ in by_key), *copied], default=0)
        high = max(known, default=0)
        if high and visible_max < high:
            if visible_max:
                self.t.rollbacks.append(
                    f"device {short(device)}'s log in the folder went back from file {high} to "
                    f"{visible_max} (an old copy of the folder restored?); local data was not "
                    "rolled back"
                )
            else:
                self.t.rollbacks.append(
                    f"every file of device {short(device)} is gone from the folder (removed, or "
                    "an old copy of the folder restored?); nothing was deleted here"
                )
        new = sorted(
            (c for key, c in by_key.items() if key not in known_keys), key=lambda c: c.name
        )
        covered = covered_upto(known)
        newest_snap = max((c.name.seq for c in new if c.name.kind == SNAPSHOT), default=0)
        plan: list[Candidate] = []
        below: list[Candidate] = []  # the newer snapshot holds everything in these
        for cand in new:
            seq = cand.name.seq
            if seq <= covered and seq not in known:
                continue  # below a snapshot we applied: nothing new in it
            (below if seq < newest_snap else plan).append(cand)
        self.replaced[device] = (newest_snap, below)  # read if that snapshot cannot be used
        # Holes: files between what we hold and what we have seen that are not in the folder,
        # one entry per run of missing positions (a name can claim any position: walking
        # them one by one would let one stray file stall the sync).
        start, end = max(covered + 1, newest_snap), max(high, visible_max)
        shown = {seq for seq, _ in by_key} | copied | set(known)
        present = sorted(s for s in shown if start <= s < end)
        before = start - 1
        for seq in [*present, end]:
            if seq - before > 1:
                self.t.pending.append(
                    Pending(
                        device,
                        positions(before + 1, seq - 1),
                        "missing from its log (delayed, or removed)",
                    )
                )
            before = seq
        return plan

    def _judge_odd(
        self, device: str, entry: Entry, known_keys: set[tuple[int, str]]
    ) -> Candidate | None:
        """A file with a name we did not write: a daemon's conflict copy, a renamed file, or
        a stranger. Read it (once per size) and use it only if it verifies."""
        key = f"{device}/{entry.name}"
        if judged_size(self.judged.get(key)) == entry.size:
            return None
        if not self.budget.allows(entry.size):
            self.t.pending.append(Pending(device, entry.name, ReadBudget.deferred()))
            return None
        try:
            data = self.remote.read(device, entry.name)
            self.budget.spend(entry.size)
            owner, seq, kind, _, _, _ = read_header(data, entry.name)
        except (Unreadable, IntegrityError, UnsupportedFormatError):
            self.judged[key] = entry.size
            return None
        self.t.read += 1
        digest = content_hash(data)
        if owner != device:
            self.judged[key] = entry.size
            return None
        if (seq, digest) in known_keys:  # a copy of a file already applied: it shows its place
            self.judged[key] = [entry.size, seq]
            return None
        return Candidate(ChainName(seq, digest, kind), entry, data)

    def _apply(self, device: str, cand: Candidate) -> None:
        name = cand.name
        known = self.files.setdefault(device, {})
        # A snapshot right after what we applied holds nothing new: it is only verified (its
        # name alone proves nothing, and counting it would skip the real file at its place).
        already = name.kind == SNAPSHOT and covered_upto(known) >= name.seq - 1
        chain = self._read(device, cand, content=not already)
        if chain is None:
            return
        if chain.device != device:
            self.t.pending.append(Pending(device, cand.entry.name, "belongs to another device"))
            return
        if already:
            self._record(FileRecord(device, chain.seq, chain.hash, SNAPSHOT, chain.size), [])
            return
        previous = known.get(name.seq - 1, [])
        if previous and chain.prev and chain.prev not in {r.hash for r in previous}:
            self.t.warnings.append(
                f"device {short(device)}'s log forked at file {name.seq} (the same vault copied "
                "to two machines?); both sides are kept"
            )
        if any(r.hash != chain.hash for r in known.get(name.seq, [])):
            self.t.warnings.append(
                f"device {short(device)} has two different files at position {name.seq}; "
                "both are kept"
            )
        self._record(
            FileRecord(device, chain.seq, chain.hash, chain.kind, chain.size),
            list(chain.ops),
            chain=chain,
        )

    # --- this device's own files -------------------------------------------------------------

    def _check_own(self, entries: list[Entry]) -> None:
        """Compare this device's files in the folder with what it wrote: adopt a file written
        by a run that was killed before it could record it, and note lost or damaged ones."""
        mine = self.files.setdefault(self.me, {})
        self.own_listed = {e.name: e for e in entries}
        recorded = {
            chain_file_name(r.seq, r.hash, r.kind): r for recs in mine.values() for r in recs
        }
        for name, rec in recorded.items():
            entry = self.own_listed.get(name)
            if entry is None or entry.size != rec.size:
                self.damaged.append(rec)
            elif self.own_seen.get(name) != entry.mtime_ns and self.budget.allows(entry.size):
                try:
                    whole = self.remote.digest(self.me, name) == rec.hash
                except Unreadable:
                    continue  # looked at again next run
                self.budget.spend(entry.size)
                self.t.read += 1
                if whole:
                    self.own_seen[name] = entry.mtime_ns
                else:
                    self.damaged.append(rec)
        last_snap = max(
            (s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)), default=0
        )
        chosen = max([*mine, self._reserved()], default=0)
        for entry in entries:
            if entry.name in recorded:
                continue
            cn = layout.parse_chain_name(entry.name)
            if cn is None:
                self.own_odd.append(entry)  # a daemon's copy of one of ours: tidied later
                continue
            chain = self._read(self.me, Candidate(cn, entry))
            if chain is None:
                failed = next((p for p in self.t.pending if p.file == entry.name), None)
                if not last_snap < cn.seq <= chosen:
                    # Covered by a snapshot, or a position this device never chose: not a
                    # file this device can show it wrote. It stays, and is not read again.
                    if failed is not None:
                        self.t.pending.remove(failed)
                elif failed is not None and not failed.reason.startswith(
                    ("unreadable", "not read yet")
                ):
                    # Ours, landed whole before a kill, then damaged in the folder before it
                    # was recorded: its operations are still unsent here and go out again;
                    # the file goes, and a snapshot covers its place in the log.
                    self.t.pending.remove(failed)
                    self.damaged.append(FileRecord(self.me, cn.seq, cn.hash, cn.kind, -1))
                continue
            if chain.device != self.me:
                continue
            strangers = [op for op in chain.ops if not self.store.has_op(op.op_id)]
            if strangers or any(r.hash != chain.hash for r in mine.get(chain.seq, [])):
                # Not a file of ours that a killed run left unrecorded: another machine
                # writes under this device's id.
                self._rotate_device(chain)
                return
            if chain.seq <= last_snap:
                continue  # a file of ours a snapshot covers, that could not be deleted
            self._record(
                FileRecord(self.me, chain.seq, chain.hash, chain.kind, chain.size),
                list(chain.ops),
                mine=True,
            )
            self.t.pending = [p for p in self.t.pending if p.file != entry.name]
        # Holes in this device's log since its last snapshot: positions a killed run chose
        # but never filled, or files the folder lost. Their operations are unsent here and go
        # out again; a snapshot covers the positions so no device waits for them. Only
        # positions this device recorded or reserved count: a name in the folder can claim
        # any position (a file of ours that verified was adopted above, so it is recorded).
        listed = {c.seq for c in map(layout.parse_chain_name, self.own_listed) if c is not None}
        snaps = [s for s, recs in mine.items() if any(r.kind == SNAPSHOT for r in recs)]
        top = max([*mine, self._reserved()], default=0)
        damaged = {d.seq for d in self.damaged}
        for seq in range(max(snaps, default=0) + 1, top + 1):
            if seq not in mine and seq not in listed and seq not in damaged:
                self.damaged.append(FileRecord(self.me, seq, "", SEGMENT, -1))

    def _rotate_device(self, chain: ChainFile) -> None:
        """Another machine writes this device's log (the vault folder was copied): keep what it
        wrote, and carry on under a new device id so the two logs never collide again."""
        self._record(
            FileRecord(self.me, chain.seq, chain.hash, chain.kind, chain.size), list(chain.ops)
        )
        new_id = crypto.random_id()
        with self.store.transaction() as db:
            SyncState.set_meta(db, "device_id", new_id)
        self.t.warnings.append(
            f"another machine writes as this device ({short(self.me)}): was the vault folder "
            f"copied? This copy now syncs as device {short(new_id)}"
        )
        self.me = new_id
        self.damaged = []
        self.own_listed = {}
