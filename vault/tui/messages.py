"""Messages that carry results up from workers and widgets: small dataclasses, one place.

State flows down (a screen sets what its widgets show); results flow up as these messages,
posted from worker threads (post_message is thread-safe) or from widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from vault.notes.model import Note
from vault.notes.search import Query
from vault.sync import SyncReport, SyncStatus
from vault.tui.data import SidebarData, Target
from vault.tui.session import Session, Unsaved

# --- opening and locking -----------------------------------------------------------------------


@dataclass
class VaultOpened(Message):
    """A worker unlocked (or created) the vault."""

    session: Session
    recovery_key: str | None = None  # only right after creation, to show once
    keyfile_created: Path | None = None  # a new keyfile made with the vault


@dataclass
class UnlockFailed(Message):
    """The secret did not open the vault: said in place, not as a crash."""

    text: str
    needs_keyfile: bool = False


@dataclass
class CreateFailed(Message):
    text: str


@dataclass
class LockFlushFailed(Message):
    """Saving the open note on the way to locking failed; the app asks what to do."""

    session: Session
    pending: Unsaved
    text: str


# --- what the main screen shows ------------------------------------------------------------------


@dataclass
class ListLoaded(Message):
    """The notes for the list, already filtered and ordered."""

    generation: int  # answers to an older request are dropped
    target: Target
    notes: list[Note]
    query: Query
    seconds: float = 0.0
    partial: bool = False  # a search made before every body was read (NoteSource.search)
    listing: list[Note] | None = None  # the notes they were taken from (NoteSource.answer)
    total: int | None = None  # a first screen (NoteSource.first): how many notes in all


@dataclass
class SidebarLoaded(Message):
    data: SidebarData


@dataclass
class NoteWritten(Message):
    """A change to a note reached the store (from this app)."""

    note: Note | None  # None: deleted for good
    note_id: str
    action: str  # "saved", "renamed", "trashed", ... (for the message shown)
    text: str | None = None  # for "saved": the body that was written
    undo: Undo | None = None  # how to take the change back (trash, move)


@dataclass(frozen=True)
class Undo:
    """Taking back a change to a note (moving it to the trash or to another notebook):
    `change` is applied to the note as that change left it."""

    what: str  # "moving “Garden ideas” to the trash"
    note: Note
    change: Callable[[Session, Note], Note]


@dataclass
class ListingLoaded(Message):
    """The whole listing is read (after the first screen was shown from the snapshot's head):
    the list and the sidebar are read again, the cursor kept on its note."""


@dataclass
class BodiesLoaded(Message):
    """Every note's body has been read (after the list was shown without them): the list and
    a search under way are read again, now over the bodies too."""


@dataclass
class VaultChanged(Message):
    """Another process or a sync changed the store; lists and the open note catch up."""


@dataclass
class StatusUpdate(Message):
    """Text for one segment of the status bar ("save", "view", and later "sync")."""

    key: str
    text: str


@dataclass
class WorkFailed(Message):
    """A worker raised; the app already told the person. Lets a screen leave its busy state."""

    group: str
    text: str


# --- from widgets --------------------------------------------------------------------------------


@dataclass
class TargetChosen(Message):
    """The sidebar picked what the list shows (confirmed: with enter or a click, not only by
    moving the cursor)."""

    target: Target
    confirmed: bool = False


@dataclass
class NoteHighlighted(Message):
    note: Note | None


@dataclass
class NoteOpened(Message):
    """Enter or a double click on a note: edit it."""

    note: Note


@dataclass
class ChangeDone(Message):
    """A change that is not about one open note (notebooks, emptying the trash) is stored."""

    text: str
    select: str | None = None  # a note to put the cursor on afterwards


# --- sync and backups ----------------------------------------------------------------------------


@dataclass
class SyncProgress(Message):
    """A running sync got further (posted from its worker, at most a few times a second)."""

    session: Session
    phase: str
    done: int
    total: int


@dataclass
class SyncFinished(Message):
    """A sync run ended: its report, or the one line of why it failed."""

    session: Session
    report: SyncReport | None
    status: SyncStatus | None  # read after the run, for the footer
    error: str | None = None
    manual: bool = False  # someone asked for it (a key, the palette)
    stopped: bool = False  # ended at a safe point because the vault is locking
    busy: bool = False  # another sync of this vault (the CLI) was running


@dataclass
class FolderChanged(Message):
    """Another device wrote to the sync folder (seen by the watcher): time to sync."""

    session: Session


@dataclass
class SyncStatusRead(Message):
    session: Session
    status: SyncStatus


@dataclass
class BackupDone(Message):
    """A backup (automatic, or asked for) finished or failed."""

    session: Session
    path: Path | None  # None: none was due (automatic) or it failed
    automatic: bool
    error: str | None = None
    left_out: str = ""  # the key slots it could not take (`left_out_text`), if any


@dataclass
class ClosingStep(Message):
    """What quitting is doing now (shown on the closing screen)."""

    text: str


@dataclass
class Closed(Message):
    """Quitting finished its work: the app exits, with `message` printed afterwards."""

    message: str | None = None


@dataclass
class JobProgress(Message):
    """A long job started from the main screen (backup, export) got further."""

    session: Session
    text: str


@dataclass
class JobDone(Message):
    """A long job ended: what to tell the person."""

    session: Session
    text: str
    title: str
    error: bool = False
    # What follows: "status" reads the sync status again, "reload" shows the vault's new
    # notes (and sends them), "acknowledge" tells the vault its altered history was shown.
    then: str | None = None
    details: tuple[str, ...] = ()  # one line each, too many for a notification: a dialog
    advice: str = ""  # what to do about them, below them in the dialog


@dataclass
class FolderChosen(Message):
    """Setting the sync folder ended: the folder, or why it cannot be used."""

    session: Session
    typed: str
    folder: str | None
    error: str | None = None


@dataclass
class OpenConflict(Message):
    """The note's conflict mark was clicked."""

    note_id: str
