"""A note's history: every saved version, newest first, the chosen one compared with the note
as it is now, and restore.

Restoring saves the chosen version's title and text as a new version (through the Session, one
write at a time with the autosave), so the versions in between stay in the history and nothing
is lost; the CLI's `vault revert` does the same. Everything decrypted here is dropped when the
screen closes, and so when the vault locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, OptionList, Static
from textual.widgets.option_list import Option

from vault.notes.model import Note, NoteVersion, snippet
from vault.sealing.envelope import short
from vault.textsafe import visible
from vault.tui.diff import Row, count_differences, side_by_side
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.keys import HISTORY_KEYS, bindings
from vault.tui.screens.conflicts import DiffView, NotebookPath, edited_at, fields_of
from vault.tui.session import Session
from vault.tui.timefmt import Clock
from vault.wording import plural


@dataclass
class HistoryLoaded(Message):
    current: Note
    versions: list[NoteVersion]  # oldest first


@dataclass
class VersionRestored(Message):
    note: Note
    changed: bool


def what_changed(before: Note | None, after: Note | None, first: bool) -> str:
    """What a version did to the one before it, in a word or two: 'text, tags', 'pinned'."""
    if after is None:
        return "deleted, or its content erased"
    if before is None:
        return "created" if first else "saved"
    said = []
    if after.title != before.title:
        said.append("title")
    if after.body != before.body:
        said.append("text")
    if after.pinned != before.pinned:
        said.append("pinned" if after.pinned else "unpinned")
    if after.tags != before.tags:
        said.append("tags")
    if after.notebook != before.notebook:
        said.append("moved")
    if after.in_trash != before.in_trash:
        said.append("to the trash" if after.in_trash else "restored")
    return ", ".join(said) or "no change"


class HistoryScreen(ReportsWorkerErrors, Screen[Note | None]):
    """Dismissed with the note as restored, or None (back)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(HISTORY_KEYS)

    def __init__(
        self, session: Session, note: Note, *, clock: Clock, notebook_path: NotebookPath
    ) -> None:
        super().__init__()
        self.session = session
        self.note = note
        self.clock = clock
        self.notebook_path = notebook_path
        self.current: Note | None = None
        self.versions: list[NoteVersion] = []  # newest first
        self._busy = False
        self._diff = DiffView(id="history-diff")  # kept here: cleared on unmount
        self._list = OptionList(id="history-list")

    def compose(self) -> ComposeResult:
        title = Text(f"History · {visible(self.note.title)}")
        yield Static(title, id="history-title", markup=False)
        yield Static("Reading the versions…", id="history-help", markup=False)
        with Horizontal(id="history-body"):
            yield self._list
            with VerticalScroll(id="history-scroll"):
                yield self._diff
        with Horizontal(classes="buttons", id="history-buttons"):
            yield Button("Back", id="back")
            yield Button("Restore this version", id="restore", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def on_unmount(self) -> None:
        # Nothing decrypted outlives the screen (closed, or taken away by locking).
        self.current = None
        self.versions = []
        self._list.clear_options()
        diff = self._diff
        diff.heads, diff.fields, diff.rows, diff.note = ("", ""), [], [], ""

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def load(self) -> None:
        current, versions = self.session.history(self.note)
        self.post_message(HistoryLoaded(current, versions))

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.current = message.current
        self.versions = list(reversed(message.versions))
        me = self.session.vault.store.device_id
        now = self.clock()
        options = self._list
        options.clear_options()
        oldest_first = message.versions
        for index in range(len(oldest_first) - 1, -1, -1):
            version = oldest_first[index]
            before = oldest_first[index - 1].note if index else None
            options.add_option(
                Option(self._label(version, before, index == 0, me, now), id=version.version)
            )
        count = len(oldest_first)
        restoring = (
            "Its versions conflict: settle them first (f8 on the note), then restore."
            if message.current.conflict
            else "Restoring saves that version's title and text as the newest version: "
            "nothing is lost."
        )
        self.query_one("#history-help", Static).update(
            f"{plural(count, 'version')}, newest first. Each is compared with the note as it "
            f"is now. {restoring}"
        )
        if count:
            options.highlighted = 0
        options.focus()

    def _label(
        self, version: NoteVersion, before: Note | None, first: bool, me: str, now: datetime
    ) -> Text:
        note = version.note
        device = "this device" if version.device == me else f"device {short(version.device)}"
        current = self.current is not None and version.version == self.current.version
        line = Text()
        if note is None:
            line.append("no content", style="bold")
        else:
            line.append(edited_at(note.modified, now), style="bold")
        line.append(f" · {device}")
        if current:
            line.append(" · now", style="bold")
        line.append("\n")
        words = len(note.body.split()) if note is not None else 0
        summary = what_changed(before, note, first)
        detail = f"{summary} · {plural(words, 'word')}" if note is not None else summary
        line.append(detail, style="dim")
        first_line = snippet(note.body, 60) if note is not None else ""
        if first_line:
            line.append("\n" + visible(first_line), style="dim italic")
        return line

    def chosen(self) -> NoteVersion | None:
        index = self._list.highlighted
        if index is None or not 0 <= index < len(self.versions):
            return None
        return self.versions[index]

    @on(OptionList.OptionHighlighted, "#history-list")
    def _highlighted(self) -> None:
        self._show()

    def _show(self) -> None:
        version, current = self.chosen(), self.current
        restore = self.query_one("#restore", Button)
        if version is None or current is None:
            self._diff.clear()
            restore.disabled = True
            return
        old = version.note
        if old is None:
            self._diff.show(("This version", "Now"), [], [], "(no content: a deletion, or erased)")
            restore.disabled = True
            self.refresh_bindings()
            return
        left = dict(fields_of(old, self.notebook_path))
        right = dict(fields_of(current, self.notebook_path))
        fields = [
            (n, visible(left[n]), visible(right.get(n, "—")))
            for n in left
            if left[n] != right.get(n)
        ]
        rows = [
            Row(_safe(r.left), _safe(r.right), r.differs)
            for r in side_by_side(old.body, current.body)
        ]
        places = count_differences(rows)
        if version.version == current.version:
            note = "This is the note as it is now."
        elif places:
            note = f"The text differs in {plural(places, 'place')}."
        else:
            note = "The same text as now."
        when = edited_at(old.modified, self.clock())
        self._diff.show((f"This version · {when}", "Now"), fields, rows, note)
        same = old.title == current.title and old.body == current.body
        # As `vault revert`: a restore onto one of two conflicting versions would make the
        # conflict grow; it is settled first (f8).
        restore.disabled = same or self._busy or current.in_trash or current.conflict
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "restore_version":
            try:
                return not self.query_one("#restore", Button).disabled
            except NoMatches:  # asked while the screen is still being built
                return False
        return True

    @on(OptionList.OptionSelected, "#history-list")
    def _selected(self) -> None:
        self.action_restore_version()

    def action_restore_version(self) -> None:
        version, current = self.chosen(), self.current
        if version is None or version.note is None or current is None or self._busy:
            return
        if self.query_one("#restore", Button).disabled:
            return
        self._busy = True
        self.query_one("#restore", Button).disabled = True
        self.restore(current, version.note)

    @work(thread=True, exclusive=True, group="history-restore", exit_on_error=False)
    def restore(self, current: Note, old: Note) -> None:
        written = self.session.restore_version(current, old)
        self.post_message(VersionRestored(written, written.version != current.version))

    def on_version_restored(self, message: VersionRestored) -> None:
        self.dismiss(message.note)

    def on_work_failed(self, message) -> None:  # type: ignore[no-untyped-def]
        if self.current is None:  # the versions did not load (the app told why)
            self.dismiss(None)
            return
        self._busy = False
        self._show()

    def action_back(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()
        elif event.button.id == "restore":
            self.action_restore_version()


def _safe(line: str | None) -> str | None:
    return None if line is None else visible(line)
