"""The app's handle on an unlocked vault: every change to a note goes through here.

Autosave runs in worker threads, so a second save can start before the first one's answer has
reached the screen. If it were based on the version the screen last saw, the app would
conflict with itself. So writes happen one at a time, and each starts from the newest version
this app wrote in the chain of the version the caller saw. A version written elsewhere
(another process, a sync) is never followed: writing over it leaves two versions, which the
domain keeps and flags as a conflict, so nothing is lost either way. When that happens, the
version handed back is the one this app wrote (not the other one, which the store may show
first), so the editor goes on from the person's own text.

Sync and conflict resolution go through here too. A sync runs in a worker thread; `close`
stops it at its next safe point (between two files: the engine is built to survive being
killed anywhere) and waits for it before the vault is locked, so locking never pulls the store
out from under a running sync.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from vault.errors import VaultError
from vault.notes.attachments import Attachment
from vault.notes.model import Item, Note, NoteVersion
from vault.notes.renaming import RenameResult, rename_note
from vault.notes.templates import NoteSettings, today
from vault.notes.vault import Vault
from vault.sync import SyncEngine, SyncReport, SyncStatus, resolve
from vault.sync.engine import configured_remote, sync_status
from vault.tui.data import NoteSource

Progress = Callable[[str, int, int], None]


class Stopped(Exception):
    """A background task ended at a safe point because the vault is being locked. Not an
    error: the task stops where a killed process could have stopped it."""


@dataclass
class Unsaved:
    """Text typed into a note and not saved yet, carried to a worker that saves it. The worker
    empties it once saved, so nothing decrypted outlives the save (Textual may keep a finished
    worker's arguments for a while)."""

    note: Note | None
    text: str

    def clear(self) -> None:
        self.note = None
        self.text = ""


class Session:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.source = NoteSource(vault)  # the list's notes, shared by the screen's workers
        self._lock = threading.Lock()
        self._successor: dict[str, Note] = {}  # a version this app replaced -> what replaced it
        self._tasks = threading.Condition()
        self._running = 0  # background tasks (sync, backup, export) under way
        self._closing = threading.Event()

    def latest(self, note: Note) -> Note:
        """The newest version this app wrote starting from `note`."""
        seen = set()
        while note.version in self._successor and note.version not in seen:
            seen.add(note.version)
            note = self._successor[note.version]
        return note

    def superseded(self, version: str) -> bool:
        """Whether this app already replaced `version` (an answer that arrives late)."""
        return version in self._successor

    def _record(self, base: Note, written: Note) -> Note:
        if written.version and written.version != base.version:
            self._successor[base.version] = written
        return written

    def update(self, note: Note, **changes: object) -> Note:
        """Title, body, notebook, tags or pinned, through `Vault.update_note`."""
        with self._lock:
            base = self.latest(note)
            written = self.vault.update_note(base, **changes)  # type: ignore[arg-type]
            if written.conflict:
                written = self._own_version(base, written)
            return self._record(base, written)

    def _own_version(self, base: Note, shown: Note) -> Note:
        """After a save that forked the note (a sync or another process wrote it meanwhile),
        the version this app just wrote: the child of `base` written on this device."""
        store = self.vault.store
        for op in store.heads(base.id):
            if op.op_id == shown.version:
                return shown
            if base.version in op.parents and op.device == store.device_id and not op.deleted:
                try:
                    payload = self.vault.open_op(op)
                except VaultError:
                    return shown
                return Note.from_payload(base.id, payload, op.op_id, True)
        return shown

    def save_body(self, note: Note, text: str) -> Note:
        return self.update(note, body=text)

    def save_unsaved(self, unsaved: Unsaved) -> None:
        if unsaved.note is not None:
            self.save_body(unsaved.note, unsaved.text)
        unsaved.clear()

    def trash(self, note: Note) -> Note:
        with self._lock:
            base = self.latest(note)
            return self._record(base, self.vault.trash_note(base))

    def restore(self, note: Note) -> Note:
        with self._lock:
            base = self.latest(note)
            return self._record(base, self.vault.restore_note(base))

    def history(self, note: Note) -> tuple[Note, list[NoteVersion]]:
        """The note as it is now and every saved version of it, oldest first. Waits for a save
        under way, so the newest version is in the list."""
        with self._lock:
            current = self.vault.note(note.id)
            return current, self.vault.note_history(current)

    def restore_version(self, note: Note, old: Note) -> Note:
        """An earlier version's title and text, saved as the newest version: the versions
        in between stay in the history."""
        return self.update(note, title=old.title, body=old.body)

    def purge(self, note: Note) -> None:
        with self._lock:
            self.vault.purge_note(self.latest(note))

    def empty_trash(self) -> int:
        with self._lock:
            return self.vault.empty_trash()

    def create(
        self,
        title: str,
        body: str = "",
        *,
        notebook: str | None = None,
        tags: Iterable[str] = (),
    ) -> Note:
        with self._lock:
            return self.vault.create_note(title, body, notebook=notebook, tags=tags)

    def rename(self, note: Note, title: str) -> RenameResult:
        """A new title; links to the old one follow it (`vault.notes.renaming`)."""
        with self._lock:
            base = self.latest(note)
            result = rename_note(self.vault, base, title)
            self._record(base, result.note)
            return result

    def today(self, settings: NoteSettings, now: datetime) -> Note:
        """Today's note, made from the daily template when it does not exist yet."""
        with self._lock:
            return today(self.vault, settings, now=now).note

    def resolve(self, item_id: str, choice: str, version: str | None = None) -> list[Item]:
        """Settle a conflict (keep mine, theirs or both), one write at a time with saves."""
        with self._lock:
            return resolve(self.vault, item_id, choice, version)

    # --- attachments ----------------------------------------------------------------------------

    def attach(
        self,
        note: Note,
        source: Path,
        *,
        name: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> tuple[Attachment, Note]:
        """Seal a file and keep it with the note: a new version, written in turn with the
        saves. A task, so locking stops it at its next chunk (Stopped) and nothing is kept."""
        with self.task() as check, self._lock:
            base = self.latest(note)

            def report(done: int, total: int) -> None:
                check()
                if progress is not None:
                    progress(done, total)

            attachment = self.vault.attach(base.id, source, name=name, progress=report)
            return attachment, self._written(base)

    def remove_attachment(self, note: Note, name: str) -> Note:
        with self._lock:
            base = self.latest(note)
            self.vault.remove_attachment(base.id, name)
            return self._written(base)

    def save_attachment(
        self,
        note: Note,
        name: str,
        out: BinaryIO,
        progress: Callable[[int, int], None] | None = None,
        *,
        private: bool = False,
    ) -> None:
        """Decrypt an attachment into `out` (a file, or memory). A task, like `attach`.
        `private`: a file of the app's own, removed on failure (Vault.save_attachment)."""
        with self.task() as check:

            def report(done: int, total: int) -> None:
                check()
                if progress is not None:
                    progress(done, total)

            self.vault.save_attachment(note.id, name, out, report, private=private)

    def _written(self, base: Note) -> Note:
        """The note as this app just wrote it from `base`, recorded as `base`'s successor."""
        current = self.vault.note(base.id)
        if current.conflict:
            current = self._own_version(base, current)
        return self._record(base, current)

    # --- background tasks: sync, backups, export -----------------------------------------------

    @contextlib.contextmanager
    def task(self) -> Iterator[Callable[[], None]]:
        """Run a long job on the vault (in a worker thread). Yields `check`, to call at the
        job's safe points: once the vault is being locked it raises Stopped there. Locking
        waits for every task to end first."""
        with self._tasks:
            if self._closing.is_set():
                raise Stopped()
            self._running += 1
        try:
            yield self._check
        finally:
            with self._tasks:
                self._running -= 1
                self._tasks.notify_all()

    def _check(self) -> None:
        if self._closing.is_set():
            raise Stopped()

    def stop_tasks(self) -> None:
        """Stop running tasks at their next safe point, wait for them, and start no more."""
        self._closing.set()
        with self._tasks:
            self._tasks.wait_for(lambda: self._running == 0)

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    @property
    def busy(self) -> bool:
        """Whether a background task (a sync, a backup, an export) is under way."""
        return self._running > 0

    def remote(self, config_remote: str) -> str | None:
        """Where this vault syncs to: its own folder, else the config's; None when nowhere."""
        path = configured_remote(self.vault, config_remote)
        return str(path) if path else None

    def sync_status(self, config_remote: str) -> SyncStatus:
        """The last run's outcome and what waits here; reads only the local store."""
        return sync_status(self.vault.store, configured_remote(self.vault, config_remote))

    def sync(
        self,
        config_remote: str,
        *,
        progress: Progress | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> SyncReport:
        """One sync run, in a worker thread. Raises VaultError as the engine does (at once
        VaultBusyError when another sync of this vault runs), and Stopped when locking.
        The engine survives a run ending anywhere, as a killed process would end it; its
        progress calls come between two files, which is where this one stops."""
        with self.task() as check:

            def report(phase: str, done: int, total: int) -> None:
                check()
                if progress is not None:
                    progress(phase, done, total)

            options = {"clock": clock_ms} if clock_ms is not None else {}
            engine = SyncEngine(self.vault, config_remote=config_remote, lock_timeout=0, **options)
            return engine.sync(progress=report)

    # --- locking ---------------------------------------------------------------------------

    def wait(self) -> None:
        """Return once no write is in flight (before locking or quitting)."""
        with self._lock:
            pass

    def close(self) -> None:
        """Stop background tasks, forget every note held here and lock the vault."""
        self.stop_tasks()
        with self._lock:
            self._successor.clear()
            self.source.clear()
            self.vault.lock()
