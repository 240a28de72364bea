"""The editor pane: a Markdown TextArea, a rendered preview beside it or instead of it, a line of
details about the note, and the saved/unsaved indicator in the pane's border.

It only shows what the screen tells it to; saving is the screen's job.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import events, on
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.document._document import Location
from textual.document._document_navigator import DocumentNavigator
from textual.document._syntax_aware_document import SyntaxAwareDocument
from textual.document._wrapped_document import WrappedDocument
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import Input, Markdown, Static, TextArea
from textual.widgets.text_area import Selection

from vault.notes.links import WIKILINK_SCHEME, as_markdown_links
from vault.notes.mdtext import task_boxes
from vault.notes.model import Note
from vault.notes.search import Query, highlight_spans
from vault.tui.keys import EDITOR_KEYS, FIND_KEYS, PANE_KEYS, bindings
from vault.tui.markdown_edit import continue_list, markdown_inline_spans
from vault.tui.messages import OpenConflict
from vault.tui.safetext import content, pictured, shown_body
from vault.tui.timefmt import Clock, long_time, relative_time
from vault.tui.widgets.attachment_list import AttachmentList
from vault.tui.widgets.attachment_markdown import AttachmentMarkdown

if TYPE_CHECKING:
    from tree_sitter import Language
    from tree_sitter import Query as TreeQuery

# While a note's versions conflict the editor shows one of them read-only: an edit would go on
# that version alone and the conflict would grow with every save (`vault edit` refuses too).
# The details line says so (first, so a narrow pane still shows it), the border says read-only.
CONFLICT_LINE = "! Versions conflict: f8 settles them"
READ_ONLY = "[$error]read-only[/]"

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
    # Typing these can open a screen (`[[` the link picker): the key gate lets the next key
    # through only once the screen is up (vault.tui.keygate).
    GATE_CHARACTERS: ClassVar[str] = "["

    # The tree-sitter language and highlight query of the last document: (name, language,
    # prepared query). TextArea reads the query's file and compiles it for every document.
    _prepared: tuple[str, Language, TreeQuery] | None = None

    def _set_document(self, text: str, language: str | None) -> None:
        """TextArea's, with the highlight query prepared once rather than for every note
        shown (reading and compiling it was half the time of loading a note)."""
        prepared = self._prepared
        if prepared is None or language != prepared[0]:
            super()._set_document(text, language)
            document = self.document
            if language and isinstance(document, SyntaxAwareDocument) and self._highlight_query:
                self._prepared = (language, document.language, self._highlight_query)
            return
        # The rest of TextArea._set_document, as it is for a language with a query.
        document = SyntaxAwareDocument(text, prepared[1])
        self._highlight_query = prepared[2]
        self.document = document
        self.wrapped_document = WrappedDocument(document, tab_width=self.indent_width)
        self.navigator = DocumentNavigator(self.wrapped_document)
        self._build_highlight_map()
        self.move_cursor((0, 0))
        self._rewrap_and_refresh_virtual_size()

    def register_language(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._prepared = None
        super().register_language(*args, **kwargs)

    def update_highlight_query(self, name: str, highlight_query: str) -> None:
        self._prepared = None
        super().update_highlight_query(name, highlight_query)

    def render_lines(self, crop: Region) -> list[Strip]:
        # The text wrapped to the width it is drawn at. The width can shrink without a resize
        # of the editor (a scrollbar appears once the wrapped text is taller than the pane,
        # and `_refresh_size` asks no layout of the screen for it): on a loaded machine a note
        # was drawn wrapped to the wider width, its line ends cut off by the border.
        if self.soft_wrap and self.wrapped_document._width != self.wrap_width:
            self._rewrap_and_refresh_virtual_size()
        return super().render_lines(crop)

    def _refresh_size(self) -> None:
        """TextArea's, without the layout pass of the whole screen that assigning
        `virtual_size` asks for (a layout reactive; about half the time of showing the next
        note). The editor's size never depends on its text: only its scrollbars follow, as a
        layout pass would have them do (ScrollView._size_updated); a scrollbar that appears or
        goes still asks for its layout through its own reactive."""
        if self.soft_wrap:
            size = Size(0, self.wrapped_document.height)
        else:
            # +1 width to make space for the cursor resting at the end of the line
            width, height = self.document.get_size(self.indent_width)
            size = Size(width + self.gutter_width + 1, height)
        if size != self.virtual_size:
            self.set_reactive(TextArea.virtual_size, size)
            self._scrollbar_changes.clear()
            self._scroll_update(size)
            self.refresh()
        self._refresh_scrollbars()

    def get_line(self, line_index: int) -> Text:
        # Drawn with each control character as one visible one (an escape sequence in a
        # synced body must not reach the terminal); the document, and so the note, keeps them.
        line = super().get_line(line_index)
        line.plain = pictured(line.plain)
        return line

    # --- moving ---------------------------------------------------------------------------

    def action_document_start(self, select: bool = False) -> None:
        self.move_cursor((0, 0), select=select)

    def action_document_end(self, select: bool = False) -> None:
        self.move_cursor(self.document.end, select=select)

    def get_cursor_line_end_location(self) -> Location:
        """End goes to the end of the Markdown line, not of the row it wraps to on screen
        (a paragraph is one line in Markdown)."""
        row, _ = self.cursor_location
        return (row, len(self.document.get_line(row)))

    # --- lists ----------------------------------------------------------------------------

    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea's own key handler; prevent_default skips that one.
        if event.key == "enter" and not self.read_only and self._continue_list():
            event.stop()
            event.prevent_default()

    def _continue_list(self) -> bool:
        """Enter after a list item starts the next one (`1.` counts on, a task starts
        unticked); enter on an empty item ends the list. False: an ordinary enter."""
        if not self.selection.is_empty:
            return False
        row, column = self.cursor_location
        line = self.document.get_line(row)
        step = continue_list(line[:column])
        if step is None:
            return False
        if step.end:
            if line[column:].strip():
                return False
            self.replace("", (row, 0), (row, len(line)))
            return True
        self.insert("\n" + step.prefix)
        return True

    # --- inline styles --------------------------------------------------------------------

    def _build_highlight_map(self) -> None:
        """The Markdown grammar styles blocks (headings, lists, code blocks); **bold**, *em*
        and `code` inside a line are added here (the theme has styles for them)."""
        super()._build_highlight_map()
        if self.language != "markdown":
            return
        lines = self.document.lines
        for row, spans in markdown_inline_spans(lines).items():
            line = lines[row]
            for start, end, name in spans:
                begin = len(line[:start].encode())
                self._highlights[row].append((begin, begin + len(line[start:end].encode()), name))


class FindBox(Input):
    """The find bar's field; its keys act on the pane around it."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(FIND_KEYS)

    def action_close_find(self) -> None:
        self.query_ancestor(EditorPane).action_close_find()

    def action_find_previous(self) -> None:
        self.query_ancestor(EditorPane).action_find_previous()


class EditorPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = bindings(PANE_KEYS)
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
                yield AttachmentMarkdown(id="preview", open_links=False)
        yield AttachmentList(id="attachments")
        yield Static(
            "Pick a note in the list, or press ctrl+n to write a new one.", id="editor-empty"
        )
        with Horizontal(id="find-bar"):
            yield FindBox(
                placeholder="Find in note  (:42 goes to line 42)", id="find", compact=True
            )
            yield Static("", id="find-status", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Editor"
        self.query_one("#find-bar").display = False
        self._find_from: Location = (0, 0)
        self._show_panes()

    # --- find in note, go to line ---------------------------------------------------------

    @property
    def find_box(self) -> FindBox:
        return self.query_one(FindBox)

    def action_find(self) -> None:
        """Open the find bar (ctrl+g): the note's text is searched as one types."""
        if self.note is None:
            return
        self._find_from = self.text_area.cursor_location
        self.query_one("#find-bar").display = True
        self.screen.set_focus(self.find_box)
        self.find_box.select_all()
        self._find(self.find_box.value, forward=True, again=False)

    def action_find_next(self) -> None:
        self._step(forward=True)

    def action_find_previous(self) -> None:
        self._step(forward=False)

    def action_close_find(self) -> None:
        self.query_one("#find-bar").display = False
        if self.note is not None and self.text_area.display:
            self.screen.set_focus(self.text_area)

    def _step(self, forward: bool) -> None:
        if self.note is None:
            return
        if not self.query_one("#find-bar").display:
            self.action_find()
            return
        self._find(self.find_box.value, forward=forward, again=True)

    @on(Input.Changed, "#find")
    def _find_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._find(event.value, forward=True, again=False)

    @on(Input.Submitted, "#find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.startswith(":"):
            self.action_close_find()  # a line reached: back to writing there
        else:
            self._step(forward=True)

    def _find(self, text: str, *, forward: bool, again: bool) -> None:
        """Select the next (or previous) match of `text`, case-insensitively, from where the
        search started or (again) from the current match; `:N` goes to line N."""
        status = self.query_one("#find-status", Static)
        area = self.text_area
        if text.startswith(":"):
            number = text[1:].strip()
            if number.isdigit():
                row = min(max(int(number), 1), area.document.line_count) - 1
                area.move_cursor((row, 0), center=True)
                status.update(f"line {row + 1} of {area.document.line_count}")
            else:
                status.update("type a line number")
            return
        if not text:
            status.update("")
            return
        starts = _all_indexes(area.text, text)
        needle = text
        if not starts:
            status.update("no match")
            return
        document = area.document
        if again:
            selection = area.selection
            current = document.get_index_from_location(min(selection.start, selection.end))
        else:
            current = document.get_index_from_location(self._find_from)
        if forward:
            later = [i for i in starts if i > current or (not again and i == current)]
            index = later[0] if later else starts[0]
        else:
            earlier = [i for i in starts if i < current]
            index = earlier[-1] if earlier else starts[-1]
        start = document.get_location_from_index(index)
        end = document.get_location_from_index(index + len(needle))
        area.selection = Selection(start, end)
        area.scroll_cursor_visible(center=True)
        status.update(f"{starts.index(index) + 1} of {len(starts)}")

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
        area.read_only = not editable(note)
        if query is not None and not query.empty:
            self._select_first_match(note.body, query)
        elif area.selection != Selection.cursor((0, 0)):  # load_text put it there already
            area.move_cursor((0, 0))
        self.save_state = "saved"
        self.update_details(note, notebook_path)
        if self.preview == "side":
            # The text first: the preview mounts a widget per block while holding every
            # repaint of the app (Markdown.update batches them), hundreds of milliseconds
            # that kept the note's text off the screen too.
            self.call_after_refresh(self.refresh_preview)
        else:
            self.refresh_preview()
        self.query_one("#find-bar").display = False
        self._show_panes()

    def replace_text(self, text: str) -> None:
        """New text from outside (the external editor), kept undoable and counted as an edit."""
        area = self.text_area
        area.replace(text, area.document.start, area.document.end)

    def update_details(self, note: Note, notebook_path: str) -> None:
        self.note = note
        self.notebook_path = notebook_path
        self._set_border_text("title", content(note.title))  # never markup: `[/]` crashed it
        now = self._clock()
        parts: list[Content] = []
        self.text_area.read_only = not editable(note)
        self._show_indicator()
        if note.conflict:  # first, so a narrow terminal still shows it
            parts.append(Content.from_markup(f"[$error]{CONFLICT_LINE}[/]"))
        if note.in_trash:
            parts.append(Content.from_markup("[$error]in the trash[/] (u restores)"))
        parts.append(content(notebook_path, "bold") if notebook_path else Content("no notebook"))
        if note.tags:
            parts.append(Content(" ").join(content(f"#{t}", "$text-primary") for t in note.tags))
        age = relative_time(note.modified, now)
        if age:  # (none for a time no calendar shows)
            parts.append(Content(f"edited {age}"))
        details = self.query_one("#editor-details", Static)
        # One line of fixed height across the pane: no layout pass of the screen needed.
        details.update(Content(" · ").join(parts), layout=False)
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
        self.query_one(AttachmentList).clear()
        details = self.query_one("#editor-details", Static)
        details.update("")
        details.tooltip = None
        self._set_border_text("title", "Editor")
        self.save_state = "none"
        self._show_indicator()
        self.query_one("#find-bar").display = False
        self._show_panes()

    def refresh_preview(self) -> None:
        if self.preview != "off" and self.note is not None:
            # [[wikilinks]] become links the preview can click (LinkActions follows them);
            # control characters are shown, never drawn raw.
            shown_text = shown_body(self.text)
            self.markdown.update(task_boxes(as_markdown_links(shown_text, WIKILINK_SCHEME)))

    def _select_first_match(self, body: str, query: Query) -> None:
        """Put the cursor on the first match. Not selected: typing would replace it."""
        spans = highlight_spans(body, query)
        location = self.text_area.document.get_location_from_index(spans[0][0]) if spans else (0, 0)
        self.text_area.move_cursor(location, center=True)

    def watch_save_state(self, state: SaveState) -> None:
        self._show_indicator()

    def _show_indicator(self) -> None:
        indicator = _INDICATOR[self.save_state]
        if self.note is not None and self.note.conflict:
            indicator = f"{READ_ONLY} · {indicator}" if indicator else READ_ONLY
        self._set_border_text("subtitle", indicator)

    def _set_border_text(self, which: Literal["title", "subtitle"], text: str | Content) -> None:
        """What `border_title = text` does, repainting only the border's row, and nothing if
        the text is the same. The setter repaints the whole pane, which the compositor then
        draws again with everything in it: about a third of drawing the next note."""
        name = f"_border_{which}"
        new = self.render_str(text).expand_tabs(4).split()[0]
        if getattr(self, name, None) == new:
            return
        setattr(self, name, new)
        if not self.is_mounted or self.outer_size.height < 2:
            self.refresh()
            return
        # Regions are relative to the content area: the border rows lie just outside it.
        left, top = self.content_offset
        row = -top if which == "title" else self.outer_size.height - 1 - top
        self.refresh(Region(-left, row, self.outer_size.width, 1))

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


def editable(note: Note) -> bool:
    """Whether typing may change `note`: not in the trash (restore it first) and not while its
    versions conflict (settle them first, f8)."""
    return not note.in_trash and not note.conflict


def _all_indexes(text: str, needle: str) -> list[int]:
    """Where `needle` starts in `text`, ignoring case (indexes of the text as it is)."""
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    return [match.start() for match in pattern.finditer(text)]
