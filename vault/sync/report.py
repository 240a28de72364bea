"""What a sync run reports (`SyncReport`, with the files it could not use yet as `Pending`),
and what the app's footer shows without touching the folder (`SyncStatus`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vault.sealing.envelope import short
from vault.storage.store import Store
from vault.sync.state import LAST, SyncState
from vault.wording import plural

ProgressCallback = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True)
class Pending:
    """A file that could not be used this time; it is retried on the next sync."""

    device: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"device {short(self.device)}: {self.file}: {self.reason}"


@dataclass(frozen=True)
class SyncReport:
    remote: str
    pulled: int = 0  # operations new to this vault
    pushed: int = 0  # operations this device published
    files_read: int = 0
    files_written: int = 0
    devices: int = 0  # other devices with files in the folder
    merged: tuple[str, ...] = ()  # item ids whose fork was merged on its own
    conflicts: tuple[str, ...] = ()  # item ids with versions waiting for a person
    waiting: tuple[str, ...] = ()  # item ids whose history has not fully arrived
    pending: tuple[Pending, ...] = ()
    rollbacks: tuple[str, ...] = ()  # one line each; local data was not rolled back
    warnings: tuple[str, ...] = ()
    repaired: int = 0  # own files rewritten because the folder lost or damaged them
    removed: int = 0  # own files removed by compaction
    seconds: float = 0.0
    not_sent: str | None = None  # why nothing could be sent (this device's folder is refused)
    attachments_received: int = 0  # attachment files fetched and verified (vault.sync.blob_sync)
    attachments_sent: int = 0
    attachments_waiting: int = 0  # used by a note, on no device yet: "not yet here"

    @property
    def ok(self) -> bool:
        return not self.rollbacks and self.not_sent is None

    def lines(self) -> list[str]:
        """A summary for a person, one fact per line."""
        out = [
            f"Received {plural(self.pulled, 'change')} from "
            f"{plural(self.devices, 'other device')}; sent {self.pushed}."
        ]
        if self.merged:
            out.append(f"Merged {plural(len(self.merged), 'note')} edited on more than one device.")
        if self.conflicts:
            out.append(f"{_need(len(self.conflicts))}: `vault conflicts` shows them.")
        if self.waiting:
            out.append(
                f"{plural(len(self.waiting), 'item')} waiting for older versions still arriving."
            )
        if self.attachments_received or self.attachments_sent:
            out.append(
                f"Attachments: received {self.attachments_received}, sent {self.attachments_sent}."
            )
        if self.attachments_waiting:
            out.append(
                f"{plural(self.attachments_waiting, 'attachment')} not here yet (the device "
                "that added it has not sent it)."
            )
        for p in self.pending:
            out.append(f"Pending (retried next time): {p}")
        for w in self.warnings:
            out.append(f"Warning: {w}")
        if self.repaired:
            out.append(
                f"Rewrote this device's log: {plural(self.repaired, 'file')} lost or damaged."
            )
        for r in self.rollbacks:
            out.append(f"ROLLBACK: {r}")
        return out

    def to_json(self) -> dict[str, object]:
        return {
            "remote": self.remote,
            "pulled": self.pulled,
            "pushed": self.pushed,
            "files_read": self.files_read,
            "files_written": self.files_written,
            "devices": self.devices,
            "merged": list(self.merged),
            "conflicts": list(self.conflicts),
            "waiting": list(self.waiting),
            "pending": [
                {"device": p.device, "file": p.file, "reason": p.reason} for p in self.pending
            ],
            "rollbacks": list(self.rollbacks),
            "warnings": list(self.warnings),
            "repaired": self.repaired,
            "removed": self.removed,
            "not_sent": self.not_sent,
            "attachments": {
                "received": self.attachments_received,
                "sent": self.attachments_sent,
                "waiting": self.attachments_waiting,
            },
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SyncStatus:
    """What the footer of the app shows; computed without touching the folder."""

    remote: str | None
    last_sync: int | None  # ms since the epoch of the last run that finished
    last_error: str | None  # the last run's one-line error, if it failed
    unpushed: int  # local changes not yet in the folder
    conflicts: int
    pending: int  # files the last run could not use yet
    rollbacks: int


def sync_status(store: Store, remote: Path | None) -> SyncStatus:
    """The last run's outcome and what waits locally; reads only the local store (no key
    needed, so `vault remote show` works on a locked vault)."""
    state = SyncState(store)
    last = state.get_json(LAST, {})
    return SyncStatus(
        remote=str(remote) if remote else None,
        last_sync=last.get("at"),
        last_error=last.get("error"),
        unpushed=state.unpushed_count(),
        conflicts=len(store.conflicted_ids()),
        pending=int(last.get("pending", 0)),
        rollbacks=int(last.get("rollbacks", 0)),
    )


def _need(conflicts: int) -> str:
    return f"{plural(conflicts, 'conflict')} {'needs' if conflicts == 1 else 'need'} you"
