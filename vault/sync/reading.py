"""What one sync run may read from the folder, and what earlier runs refused.

Anyone can put files with log-file names in the folder: nine sparse 511 MiB files cost almost
no disk and used to be read in full on every sync. So a run reads at most `READ_BUDGET` bytes
of files it has not applied before (the first file always, so no file can stall a sync for
ever; the rest wait for the next run), and a file refused for its content (hash, verification,
wrong owner) is remembered by name, size and modification time (`sync.rejected`), so an
unchanged file is not read again. A daemon still delivering a file changes its size or time,
so it is read again then. Entries for files no longer in the folder are pruned each run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from vault.sync.remote import Entry
from vault.sync.state import REJECTED, SyncState

READ_BUDGET = 512 * 1024 * 1024


@dataclass
class ReadBudget:
    left: int
    read_any: bool = False

    @classmethod
    def for_run(cls) -> ReadBudget:
        return cls(READ_BUDGET)

    def allows(self, size: int) -> bool:
        """May a file of `size` bytes be read in this run?"""
        return not self.read_any or size <= self.left

    def spend(self, size: int) -> None:
        """Count a file that was read (refused unread, it costs nothing)."""
        self.read_any = True
        self.left -= size

    @staticmethod
    def deferred() -> str:
        return f"not read yet: this sync already read {READ_BUDGET >> 20} MiB (read next time)"


@dataclass
class Rejections:
    """`{"device/name": [size, mtime_ns, reason]}` for files refused for what they hold."""

    entries: dict[str, list[Any]] = field(default_factory=dict)
    saved: dict[str, list[Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, state: SyncState) -> Rejections:
        raw = state.get_json(REJECTED, {})
        good = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                if (
                    isinstance(key, str)
                    and isinstance(value, list)
                    and len(value) == 3
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in value[:2])
                    and isinstance(value[2], str)
                ):
                    good[key] = value
        return cls(dict(good), dict(good))

    def known(self, device: str, entry: Entry) -> str | None:
        """The reason an unchanged file was refused before, or None (read it)."""
        value = self.entries.get(f"{device}/{entry.name}")
        if value is not None and value[:2] == [entry.size, entry.mtime_ns]:
            return str(value[2])
        return None

    def remember(self, device: str, entry: Entry, reason: str) -> None:
        self.entries[f"{device}/{entry.name}"] = [entry.size, entry.mtime_ns, reason]

    def forget(self, device: str, name: str) -> None:
        self.entries.pop(f"{device}/{name}", None)

    def save(self, db: sqlite3.Connection) -> None:
        if self.entries != self.saved:
            SyncState.set_json(db, REJECTED, self.entries)
            self.saved = dict(self.entries)


def prune(memory: dict[str, Any], listed: dict[str, Iterable[str]]) -> dict[str, Any]:
    """`memory` ("device/name" keys) without the files of the devices in `listed` (those whose
    folder was listed this run) that are no longer there. A device whose folder could not be
    listed keeps its entries: what could not be seen is not known to be gone."""
    present = {f"{device}/{name}" for device, names in listed.items() for name in names}
    return {
        key: value
        for key, value in memory.items()
        if key.partition("/")[0] not in listed or key in present
    }
