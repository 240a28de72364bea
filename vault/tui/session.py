"""The app's handle on an unlocked vault: every change to a note goes through here.

Autosave runs in worker threads, so a second save can start before the first one's answer has
reached the screen. If it were based on the version the screen last saw, the app would
conflict with itself. So writes happen one at a time, and each starts from the newest version
this app wrote in the chain of the version the caller saw. A version written elsewhere
(another process, a sync) is never followed: writing over it leaves two versions, which the
domain keeps and flags as a conflict, so nothing is lost either way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from vault.model import Note
from vault.notes import Vault
from vault.tui.data import NoteSource


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
            return self._record(base, self.vault.update_note(base, **changes))  # type: ignore[arg-type]

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

    def wait(self) -> None:
        """Return once no write is in flight (before locking or quitting)."""
        with self._lock:
            pass

    def close(self) -> None:
        """Forget every note held here and lock the vault."""
        with self._lock:
            self._successor.clear()
            self.source.clear()
            self.vault.lock()
