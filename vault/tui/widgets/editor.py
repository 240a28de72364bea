"""The editor pane: a Markdown TextArea, a rendered preview beside it or instead of it, a line of
details about the note, and the saved/unsaved indicator in the pane's border.

It only shows what the screen tells it to; saving is the screen's job.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import events
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.reactive import reactive
from textual.widgets import Markdown, Static, TextArea

from vault.mdtext import task_boxes
from vault.model import Note
from vault.search import Query, highlight_spans
from vault.tui.keys import EDITOR_KEYS, bindings
from vault.tui.messages import OpenConflict
from vault.tui.timefmt import Clock, long_time, relative_time

SaveState = Literal["none", "saved", "unsaved", "saving", "failed"]
PreviewMode = Literal["off", "side", "only"]
PREVIEW_MODES: tuple[PreviewMode, ...] = ("off", "side", "only")

_INDICATOR = {
    "none": "",
    "saved": "[$success]✓ saved[/]",
    "unsaved": "[$warning]● unsaved[/]",
    "saving": "[$text-muted]saving…[/]",
    "failed": "[$error]✗ not saved[/]",
}


class NoteEditor(TextArea):
    BINDINGS: ClassVar[list[BindingType]] = bindings(EDITOR_KEYS)


class EditorPane(Vertical):
    save_state: reactive[SaveState] = reactive("none")
    preview: reactive[PreviewMode] = reactive("off")

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self.note: Note | None = None
        self.notebook_path = ""
        self._loading = False

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(id="editor-details")
        with Horizontal(id="editor-panes"):
            yield NoteEditor(
                language="markdown",
                soft_wrap=True,
                tab_behavior="indent",
                show_line_numbers=False,
                id="editor",
            )
            with VerticalScroll(id="preview-scroll"):
                yield Markdown(id="preview", open_links=False)
        yield Static(
            "Pick a note in the list, or press ctrl+n to write a new one.", id="editor-empty"
        )

    def on_mount(self) -> None:
        self.border_title = "Editor"
        self._show_panes()

    @property
    def text_area(self) -> NoteEditor:
        return self.query_one(NoteEditor)

    @property
    def markdown(self) -> Markdown:
        return self.query_one("#preview", Markdown)

    @property
    def text(self) -> str:
        return self.text_area.text

    @property
    def loading_text(self) -> bool:
        """True while the pane itself replaces the text, so that change is not an edit."""
        return self._loading

    def show(self, note: Note, notebook_path: str, query: Query | None = None) -> None:
        """Load `note` for editing; with a search active, the first match is selected."""
        self.note = note
        self.notebook_path = notebook_path
        area = self.text_area
        self._loading = True
        try:
            area.load_text(note.body)
        finally:
            self._loading = False
        area.read_only = note.in_trash  # restore it first; editing the trash would be a trap
        if query is not None and not query.empty:
            self._select_first_match(note.body, query)
        else:
            area.move_cursor((0, 0))
        self.save_state = "saved"
        self.update_details(note, notebook_path)
        self.refresh_preview()
        self._show_panes()

    def replace_text(self, text: str) -> None:
        """New text from outside (the external editor), kept undoable and counted as an edit."""
        area = self.text_area
        area.replace(text, area.document.start, area.document.end)

    def update_details(self, note: Note, notebook_path: str) -> None:
        self.note = note
        self.notebook_path = notebook_path
        self.border_title = note.title
        now = self._clock()
        parts = []
        if note.conflict:  # first, so a narrow terminal still shows it
            parts.append("[$error]! two versions: f8 compares[/]")
        if note.in_trash:
            parts.append("[$error]in the trash[/] (u restores)")
        parts.append(f"[b]{escape(notebook_path)}[/b]" if notebook_path else "no notebook")
        if note.tags:
            parts.append(" ".join(f"[$text-primary]#{escape(t)}[/]" for t in note.tags))
        parts.append(f"edited {relative_time(note.modified, now)}")
        details = self.query_one("#editor-details", Static)
        details.update(" · ".join(parts))
        details.tooltip = (
            f"created {long_time(note.created, now)}, edited {long_time(note.modified, now)}"
        )

    def on_click(self, event: events.Click) -> None:
        # The details line carries the conflict mark: a click on it compares the versions.
        widget = event.widget
        note = self.note
        if widget is not None and widget.id == "editor-details" and note and note.conflict:
            self.post_message(OpenConflict(note.id))

    def clear(self) -> None:
        """Show nothing (no note, or locking): every decrypted value leaves the widgets."""
        self.note = None
        self.notebook_path = ""
        self._loading = True
        try:
            self.text_area.load_text("")
        finally:
            self._loading = False
        self.text_area.read_only = False
        self.markdown.update("")
        details = self.query_one("#editor-details", Static)
        details.update("")
        details.tooltip = None
        self.border_title = "Editor"
        self.save_state = "none"
        self._show_panes()

    def refresh_preview(self) -> None:
        if self.preview != "off" and self.note is not None:
            self.markdown.update(task_boxes(self.text))

    def _select_first_match(self, body: str, query: Query) -> None:
        """Put the cursor on the first match. Not selected: typing would replace it."""
        spans = highlight_spans(body, query)
        location = self.text_area.document.get_location_from_index(spans[0][0]) if spans else (0, 0)
        self.text_area.move_cursor(location, center=True)

    def watch_save_state(self, state: SaveState) -> None:
        self.border_subtitle = _INDICATOR[state]

    def watch_preview(self, mode: PreviewMode) -> None:
        self._show_panes()
        self.refresh_preview()

    def _show_panes(self) -> None:
        has_note = self.note is not None
        self.query_one("#editor-empty").display = not has_note
        self.query_one("#editor-details").display = has_note
        self.query_one("#editor-panes").display = has_note
        self.text_area.display = self.preview != "only"
        self.query_one("#preview-scroll").display = self.preview != "off"
