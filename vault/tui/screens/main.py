"""The main screen: sidebar, note list with live search, and the editor with preview.

The screen owns the state (what the list shows, the sort, the query, the open note) and sets it
into its widgets; widgets and workers report back with messages. Every domain call runs in a
worker thread; every change to a note goes through the Session, one at a time.

About 800 lines, on purpose: this is the state of the screen and the handlers that change it,
which must be read together to see that every path leaves the list, the editor and the save
mark consistent. The actions (notes, sync and backups, links, attachments, jumps) are in their
own modules as mixins that only call into this state; they import nothing from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
from time import perf_counter
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import DescendantFocus, Resize
from textual.geometry import Size
from textual.reactive import Reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Markdown, TextArea

from vault.editor import edit_text
from vault.errors import VaultError
from vault.notes.links import link_address
from vault.notes.model import Note, has_body
from vault.notes.search import Query, parse_query
from vault.tui.data import (
    ALL,
    SORTS,
    TRASH,
    NoteSource,
    SidebarData,
    Target,
    describe_target,
    first_sidebar,
)
from vault.tui.data import sidebar_data as load_sidebar
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.keys import MAIN_KEYS, SEARCH_KEYS, bindings
from vault.tui.memory import hold_still
from vault.tui.messages import (
    BodiesLoaded,
    ChangeDone,
    ListingLoaded,
    ListLoaded,
    NoteHighlighted,
    NoteOpened,
    NoteWritten,
    SidebarLoaded,
    StatusUpdate,
    TargetChosen,
    VaultChanged,
    WorkFailed,
)
from vault.tui.providers import ActionsProvider, JumpProvider
from vault.tui.safetext import content, escaped
from vault.tui.screens.attachments import AttachmentActions
from vault.tui.screens.entry import display_path
from vault.tui.screens.jumps import PaletteSupport
from vault.tui.screens.link_actions import LinkActions
from vault.tui.screens.note_actions import NoteActions
from vault.tui.screens.password import PasswordActions
from vault.tui.screens.sync_and_backup import SyncAndBackup
from vault.tui.services import AppServices
from vault.tui.session import Session, Stopped, Unsaved
from vault.tui.timefmt import Clock
from vault.tui.widgets.editor import PREVIEW_MODES, EditorPane, PreviewMode
from vault.tui.widgets.note_list import NoteList, position_of
from vault.tui.widgets.sidebar import Sidebar
from vault.tui.widgets.status import StatusBar
from vault.wording import plural

NARROW = 100  # below this many columns the sidebar hides until asked for (ctrl+b)
ROOMY = 150  # below this, the side preview takes the sidebar's room (ctrl+b brings it)
PREVIEW_DELAY = 0.3
RELOAD_DELAY = 0.15
SHOW_DELAY = 0.12
BODIES_DELAY = 0.1  # after the first list, before the bodies are read (vault/tui/data.py)
# The list's keys that move its cursor on, and back (NoteList.BINDINGS).
_LIST_FORWARD = frozenset({"down", "j", "pagedown", "end"})
_LIST_BACK = frozenset({"up", "k", "pageup", "home"})


# Actions that work on "the current note", and those that also make sense in the trash.
_NOTE_ACTIONS = {
    "rename_note",
    "edit_tags",
    "move_note",
    "toggle_pin",
    "trash_note",
    "external_edit",
    "save",
    "open_note",
    "restore_note",
    "history",
    "follow_link",
    "toggle_backlinks",
    "toggle_outline",
    "attach_file",
}
_TRASH_OK = {"trash_note", "restore_note", "open_note"}
# Every action whose availability check_action decides from the screen's state.
_VARYING_ACTIONS = (
    *sorted(_NOTE_ACTIONS),
    "undo",
    "rename_notebook",
    "delete_notebook",
    "move_notebook",
    "rename_tag",
    "remove_tag",
    "empty_trash",
)


class SearchBox(Input):
    BINDINGS: ClassVar[list[BindingType]] = bindings(SEARCH_KEYS)

    # Input resizes its virtual width on every keystroke, and Widget's `virtual_size` asks for
    # a layout pass of the whole screen each time (the sidebar tree, the list, the editor):
    # the largest cost of a search keystroke after the search itself. The box's own size
    # never depends on its text, so a repaint is enough; scrolling follows the cursor as before.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)


class MainScreen(
    LinkActions,
    NoteActions,
    PasswordActions,
    SyncAndBackup,
    PaletteSupport,
    AttachmentActions,
    ReportsWorkerErrors,
    Screen[None],
):
    COMMANDS: ClassVar[set[type]] = {JumpProvider, ActionsProvider}  # type: ignore[assignment]
    BINDINGS: ClassVar[list[BindingType]] = bindings(MAIN_KEYS)
    AUTO_FOCUS = "#notes"

    def __init__(
        self, *, clock: Clock, poll_seconds: float | None = 2.0, read_bodies: bool = True
    ) -> None:
        """Built empty, while the unlock screen covers it; `attach` gives it an open vault
        and `wipe` takes everything away again when the vault locks."""
        super().__init__()
        self.session: Session | None = None
        self.source: NoteSource | None = None
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.read_bodies = read_bodies  # after the list is shown (False: tests of the wait)
        self.target: Target = ALL
        self.sort = "modified"
        self.search_query: Query = Query()
        self.sidebar_data = SidebarData()
        self.saved_text = ""  # the open note's text as last loaded or saved
        self._generation = 0
        self._pending_select: str | None = None
        # Rows drawn without their notes' bodies, to read in a worker (`_list_body`).
        self._rows_wanted: dict[tuple[str, str], Note] = {}
        self._rows_unreadable: set[tuple[str, str]] = set()
        self._focus_editor_after_load = False
        self._saves_in_flight = 0
        self._warmed = False
        self._list_partial = False  # the list's search left out bodies not read yet
        self._list_total: int | None = None  # a first screen: how many notes in all
        self._listing_wanted = False  # the first screen was asked for: the rest to be read
        self._listing: list[Note] | None = None  # what the shown notes were taken from
        # The listing the open note was last settled against, and (id, version, conflict).
        self._settled: tuple[list[Note] | None, tuple[str, str, bool] | None] = (None, None)
        self._fold_after_list = False
        self._mounted = False
        self._autosave_timer: Timer | None = None
        self._preview_timer: Timer | None = None
        self._reload_timer: Timer | None = None
        self._show_timer: Timer | None = None
        self._sidebar_wanted: bool | None = None  # None: decided by the width
        self._zen = False  # f10: the editor alone, while it has the focus
        self._release_keys_on_load = False
        self._bindings_shown: tuple[bool | None, ...] | None = None
        self.autosave_seconds = 1.0

    @property
    def vault_app(self) -> AppServices:
        """The app's services (the screen does not import the app: vault/tui/services.py)."""
        return self.app  # type: ignore[return-value]

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Sidebar(id="sidebar")
            with Vertical(id="list-pane"):
                yield SearchBox(placeholder="Search  (ctrl+f)", id="search", compact=True)
                yield NoteList(self.clock, id="notes")
            yield EditorPane(self.clock, id="editor-pane")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def notes_list(self) -> NoteList:
        return self.query_one(NoteList)

    @property
    def pane(self) -> EditorPane:
        return self.query_one(EditorPane)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one(Sidebar)

    @property
    def search_box(self) -> SearchBox:
        return self.query_one(SearchBox)

    def on_mount(self) -> None:
        self._mounted = True
        self.notes_list.read_body = self._list_body
        self.query_one("#list-pane").border_title = "All notes"
        self.sidebar.border_title = "vault"
        self._layout_for(self.size.width)
        if self.poll_seconds:
            self.set_interval(self.poll_seconds, self.poll)
        if self.session is not None:
            self.attach(self.session)

    def attach(self, session: Session) -> None:
        """The vault is open: show its notes with the remembered sort, preview and layout."""
        self._rows_wanted, self._rows_unreadable = {}, set()
        self.session = session
        self.source = session.source
        if not self._mounted:
            return  # on_mount finishes the job
        config = self.vault_app.config
        sort = config.get("ui.sort")
        self.sort = sort if sort in SORTS else "modified"
        preview = config.get("ui.preview")
        self.pane.preview = preview if preview in PREVIEW_MODES else "off"
        self.autosave_seconds = max(0.2, float(config.get("ui.autosave_seconds")))
        self.target = ALL
        self._warmed = False
        vault = session.vault
        minutes = int(config.get("ui.autolock_minutes"))
        lock = f"locks after {minutes} idle min" if minutes > 0 else "auto-lock off"
        where = escaped(display_path(vault.path))  # the segment is markup
        self.set_status("vault", f"{where} · {lock}", escaped(str(vault.path)))
        if vault.listing_pending:
            # The first screen, from the snapshot's head; the rest of the listing (and with
            # it the sidebar, and what could not be opened) is read once it is shown
            # (`finish_listing`).
            self._listing_wanted = True
            self.request_list()
            first = first_sidebar(vault)  # the notebooks' names, the counts to follow
            if first is not None:
                self.post_message(SidebarLoaded(first))
        else:
            self._tell_what_failed()
            self.reload_views()
        self.set_focus(self.notes_list)
        self._layout_for(self.size.width)
        self._release_keys_on_load = True  # keys typed while it opened wait for the list

    def _tell_what_failed(self) -> None:
        """Items that could not be opened and history altered, once the vault is read."""
        session = self.session
        if session is None:
            return
        vault = session.vault
        if vault.corrupt:
            self.notify(
                f"{plural(len(vault.corrupt), 'item')} could not be opened; "
                "“Check the vault” (ctrl+p) says more.",
                severity="warning",
                timeout=10,
            )
        if vault.history_incident:
            self.notify(
                f"{vault.history_incident[:1].upper()}{vault.history_incident[1:]}. "
                "“Check the vault” (ctrl+p) says more.",
                title="History altered",
                severity="error",
                timeout=30,
            )

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        """Room to write. Below NARROW columns the list (and sidebar) fold away while the
        editor has the focus; the side preview below ROOMY columns narrows the list and
        leaves the sidebar to ctrl+b; zen (f10) gives the editor the whole width."""
        beside = self.pane.preview == "side" or self.link_panel is not None
        cramped = beside and width < ROOMY  # a panel beside the editor takes the sidebar's room
        self.set_class(width < NARROW, "-narrow")
        self.set_class(cramped, "-preview-cramped")
        writing = self._writing()
        if self._zen and not writing:
            self._zen = False  # zen lasts while writing: leaving the editor ends it
        folded = self._zen or (width < NARROW and writing)
        auto = width >= NARROW and not cramped
        wanted = self._sidebar_wanted if self._sidebar_wanted is not None else auto
        self.sidebar.display = wanted and not folded
        self.query_one("#list-pane").display = not folded

    def _writing(self) -> bool:
        focused = self.focused
        return focused is not None and self.pane in focused.ancestors_with_self

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        if self._mounted:
            self._layout_for(self.size.width)

    def action_toggle_zen(self) -> None:
        if self._zen:
            self._zen = False
        elif self.pane.note is not None:
            self.focus_editor()
            self._zen = True
        else:
            self.notify("Open a note first: zen gives it the whole width.", timeout=3)
            return
        self._layout_for(self.size.width)

    def on_status_update(self, message: StatusUpdate) -> None:
        self.set_status(message.key, message.text)

    def set_status(self, key: str, text: str, tooltip: str | None = None) -> None:
        # (none while the screen is taken down: a sync status read in the background may
        # arrive then, and was an internal error as the app quit)
        for bar in self.query(StatusBar):
            bar.set_segment(key, text, tooltip)

    def on_status_bar_clicked(self, message: StatusBar.Clicked) -> None:
        if message.key == "sync" and self.session is not None:
            self.action_sync_panel()

    # --- loading what is shown -------------------------------------------------------------

    def reload_views(self) -> None:
        self.request_list()
        self.request_sidebar()

    def schedule_reload(self) -> None:
        """Several changes in a row (a save, then a rename) reload the views once."""
        if self._reload_timer is None:
            self._reload_timer = self.set_timer(RELOAD_DELAY, self._reload_now)

    def _reload_now(self) -> None:
        self._reload_timer = None
        self.reload_views()

    def request_list(self, select: str | None = None) -> None:
        if self.session is None:
            return
        if select is not None:
            self._pending_select = select
        self._generation += 1
        self.load_list(self._generation, self.target, self.sort, self.search_query)

    @work(thread=True, exclusive=True, group="list", exit_on_error=False)
    def load_list(self, generation: int, target: Target, sort: str, query: Query) -> None:
        source = self.source
        if source is None:
            return
        start = perf_counter()
        first = source.first(target, sort) if query.empty else None
        if first is not None:
            notes, total = first
            took = perf_counter() - start
            self.post_message(ListLoaded(generation, target, notes, query, took, total=total))
            return
        notes, partial, listing = source.answer(target, sort, query)
        took = perf_counter() - start
        self.post_message(ListLoaded(generation, target, notes, query, took, partial, listing))

    def _read_bodies(self) -> None:
        if self.session is not None:
            self.warm_search()

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False)
    def warm_search(self) -> None:
        """After the list is on screen: the notes' bodies (the list was shown without them),
        a slice at a time, then (once the list holds the notes with them) the search's folds.
        Locking stops it between two slices."""
        session, source = self.session, self.source
        if session is None or source is None:
            return
        try:
            with session.task() as check:
                filled = source.warm(check)
                if filled:
                    # Inside the task, after a last check: locking waits for this, so its
                    # `let_go` (the collector's defaults back) can never run before it.
                    check()
                    hold_still()  # the bodies too, out of the collector's way (tui/memory.py)
        except Stopped:
            return  # locking
        if filled:
            self.post_message(BodiesLoaded())  # the list again, then the folds
        else:
            source.fold()

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False)
    def fold_for_search(self) -> None:
        source = self.source
        if source is not None:
            source.fold()

    @work(thread=True, exclusive=True, group="listing", exit_on_error=False)
    def finish_listing(self) -> None:
        """After the first screen (from the snapshot's head): the whole listing, then the
        list and the sidebar read again from it (`ListingLoaded`)."""
        session, source = self.session, self.source
        if session is None or source is None:
            return
        try:
            with session.task() as check:
                try:
                    session.vault.finish_listing()
                    source.base(ALL, self.sort)  # (what the list asks for next, read now)
                except VaultError:
                    pass  # the list is read again below, and says what failed then
                check()
                hold_still()  # the notes, out of the collector's way (tui/memory.py)
        except Stopped:
            return  # locking
        finally:
            self.post_message(ListingLoaded())  # whatever happened: never the first screen

    def on_listing_loaded(self, message: ListingLoaded) -> None:
        if self.session is not None:
            self._tell_what_failed()
            self.reload_views()  # the whole list (the cursor stays on its note), the sidebar

    def on_bodies_loaded(self, message: BodiesLoaded) -> None:
        if self.session is not None:
            self._fold_after_list = True
            self.request_list()  # the snippets, and a search over the bodies too

    @work(thread=True, exclusive=True, group="sidebar", exit_on_error=False)
    def request_sidebar(self) -> None:
        session = self.session
        if session is not None:
            self.post_message(SidebarLoaded(load_sidebar(session.vault)))

    def on_list_loaded(self, message: ListLoaded) -> None:
        if message.generation != self._generation or self.session is None:
            return  # an answer to an older question
        if self._release_keys_on_load:
            self._release_keys_on_load = False
            self.call_after_refresh(self.vault_app.release_keys)  # the list is there now
        keep = self._pending_select
        self._pending_select = None
        self._list_partial = message.partial
        self._list_total = message.total
        # The same listing as the last answer's (a search typed further): the same note
        # objects, found again by identity alone.
        same = message.listing is not None and message.listing is self._listing
        self._listing = message.listing
        self.notes_list.set_notes(
            message.notes,
            message.query,
            keep=keep,
            empty_text=self._empty_text(message),
            same_listing=same,
        )
        if self._listing_wanted:  # once the list is drawn: the first frame goes out first
            self._listing_wanted = False
            self.set_timer(BODIES_DELAY, self.finish_listing)
        if self._fold_after_list:  # the notes without bodies are let go first (memory)
            self._fold_after_list = False
            self.fold_for_search()
        self._update_list_title()
        if not self._warmed:  # after the list is on screen, so it does not delay it
            self._warmed = True
            if self.read_bodies:  # once the list is drawn: the first frame goes out first
                self.set_timer(BODIES_DELAY, self._read_bodies)
            self.vault_app.read_sync_status()  # the footer's sync status, likewise
        if self._focus_editor_after_load and keep is not None:
            self._open_created(keep)
        self._catch_up(message.notes, message.listing)
        self._paint_now()

    def _paint_now(self) -> None:
        """Draw what changed now, not at the screen's next frame: the list's answer to a
        search keystroke. The keystroke's own frame (the letter in the box) went out a few
        milliseconds after the key, and Textual's screen timer, after a frame that ends a
        pause, skips to the second grid point: the answer, ready 10 ms later, waited 17-33 ms
        for it (tmux, 10,000 notes). The widgets report their repaints first (as their idle
        handlers would, `_report_repaints`: messages to the screen), then, once the screen
        has taken those in, it does what its timer would do."""
        self._report_repaints()
        self.call_later(self._on_timer_update)

    def _open_created(self, note_id: str) -> None:
        """A note just made: show it in the editor with the focus there, then let through the
        keys typed meanwhile (held since its title was entered)."""
        self._focus_editor_after_load = False
        highlighted = self.notes_list.highlighted
        if highlighted is not None and highlighted.id == note_id:
            current = self.pane.note
            if current is None or current.id != note_id:
                if self._show_timer is not None:
                    self._show_timer.stop()
                    self._show_timer = None
                self.leave_note()
                self.show_note(highlighted)
            self.focus_editor()
        self.vault_app.release_keys()

    def _empty_text(self, message: ListLoaded) -> str:
        if not message.query.empty:
            return "No notes match; esc clears the search."
        if message.target.is_trash:
            return "The trash is empty."
        return "No notes here yet; ctrl+n writes one."

    def on_sidebar_loaded(self, message: SidebarLoaded) -> None:
        if self.session is None:
            return
        self.sidebar_data = message.data
        target = self.target
        gone = (target.kind == "notebook" and message.data.notebook(target.ref) is None) or (
            target.kind == "tag"
            and all(t.name.casefold() != (target.ref or "").casefold() for t in message.data.tags)
        )
        if gone:
            self.target = ALL
            self.request_list()
        self.sidebar.show(message.data, self.target)
        self._update_list_title()
        note = self.pane.note
        if note is not None:  # notebook names may have arrived after the note was shown
            self.pane.update_details(note, self.notebook_path(note.notebook))

    def _update_list_title(self) -> None:
        pane = self.query_one("#list-pane")
        # Content, not markup: a tag or notebook named `[/]` crashed the app when chosen.
        title = content(describe_target(self.target, self.sidebar_data))
        count = len(self.notes_list.notes)
        if self.search_query.empty:
            total = self._list_total
            count = count if total is None else total
            noun = "note" if count == 1 else "notes"
            subtitle = f"{count:,} {noun} · by {self.sort}"
            if total is not None:  # the first screen: said, as the partial search is
                subtitle += " · loading…"
        else:
            subtitle = f"{count:,} {'match' if count == 1 else 'matches'}"
            if self._list_partial:  # said, not hidden: the answer is redone when they are in
                subtitle += " · titles only, bodies loading…"
        # Set only when different: each assignment repaints the pane.
        if pane.border_title != title.markup:
            pane.border_title = title
        if pane.border_subtitle != subtitle:
            pane.border_subtitle = subtitle

    def poll(self) -> None:
        if self.session is not None:
            self.check_for_changes()

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def check_for_changes(self) -> None:
        session = self.session
        if session is not None and session.vault.refresh():
            self.post_message(VaultChanged())

    def on_vault_changed(self, message: VaultChanged) -> None:
        self.schedule_reload()
        # The footer's conflicts too: a `vault sync` or `vault resolve` in a shell changes
        # them, and the footer kept "1 conflict" until the next sync here (first-hour report).
        self.vault_app.read_sync_status()

    # --- the open note -----------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        return self.pane.note is not None and self.pane.text != self.saved_text

    def current_note(self) -> Note | None:
        """The note actions apply to: the one in the editor, else the one under the cursor."""
        return self.pane.note or self.notes_list.highlighted

    def notebook_path(self, notebook_id: str | None) -> str:
        entry_ = self.sidebar_data.notebook(notebook_id)
        return entry_.path if entry_ is not None else ""

    def on_note_highlighted(self, message: NoteHighlighted) -> None:
        message.stop()
        note = message.note
        current = self.pane.note
        if note is None:
            if current is not None:
                self.leave_note()
                self.pane.clear()
                self.refresh_bindings()
            return
        if current is not None and note.id == current.id:
            self._catch_up([note])
            return
        if self._show_timer is not None:
            self._show_timer.stop()
            self._show_timer = None
        if self.search_box.has_focus or self._moving_on():
            # While typing a search the top match changes with every letter: load it into the
            # editor once the typing pauses, so the keystrokes stay quick. Likewise while an
            # arrow is held down: only the note the cursor stops on is loaded and drawn.
            self._show_timer = self.set_timer(SHOW_DELAY, lambda: self._show_highlighted(note))
            return
        self._show_highlighted(note)

    def _moving_on(self) -> bool:
        """Whether the key waiting behind this one moves the list's cursor to another note
        (a held-down arrow): then the note under the cursor now would be shown only to be
        replaced. A single key, or one that does anything else, finds nothing waiting or
        something else: the note is shown at once."""
        # The app's key gate (vault.tui.keygate) holds the keys that wait; a screen does not
        # import the app's layer, so it asks by name (an app without a gate holds none).
        key = getattr(self.app, "next_key", None)
        if key is None or not self.notes_list.has_focus:
            return False
        notes = self.notes_list
        if key in _LIST_FORWARD:
            return notes.cursor < len(notes.notes) - 1
        if key in _LIST_BACK:
            return notes.cursor > 0
        return False

    def _show_highlighted(self, note: Note) -> None:
        self._show_timer = None
        highlighted = self.notes_list.highlighted
        if highlighted is None or highlighted.id != note.id:
            return  # the cursor moved on meanwhile
        self.leave_note()
        self.show_note(highlighted)

    def show_note(self, note: Note) -> None:
        if not has_body(note):  # the list's notes may come without it (NoteSource)
            whole = self._with_body(note)
            if whole is None:
                self.pane.clear()
                return
            note = whole
        self.saved_text = note.body
        self.pane.show(note, self.notebook_path(note.notebook), self.search_query)
        self.show_attachments(note)
        self.refresh_bindings_if_changed()
        self._report_repaints()

    def _report_repaints(self) -> None:
        """Tell the screen now which widgets the note changed, so the next frame holds all of
        them. A widget reports its repaint when its own queue is next idle, by then the screen
        had often painted a frame without it, and Textual paces frames so that the next one
        came one to two frame periods (17-33 ms) later. This is what the widgets' idle does."""
        for widget in self.walk_children(Widget):
            if widget._repaint_required:
                widget._check_refresh()

    def _with_body(self, note: Note) -> Note | None:
        """The note with its body, read from its own envelope (about a millisecond) when the
        background reading has not reached it yet; None if it cannot be read (said once)."""
        session = self.session
        if session is None:
            return None
        try:
            return session.vault.whole(note)
        except VaultError as exc:
            self.notify(str(exc), severity="error", timeout=6)
            return None

    def _list_body(self, note: Note) -> str | None:
        """The body of a note on a row of the list (the vault holds the notes without their
        bodies) if it is at hand (`Vault.known_body`); else None, and it is read from its
        envelope in a worker (`_read_row_bodies`), which draws the rows again. Never read
        here: while the vault's workers run, each read on this thread waited for the
        interpreter at every call that lets it go (20 rows: 165 ms against 3 ms idle, at
        10,000 notes). "" for a body that could not be read (told when the note opens)."""
        session = self.session
        if session is None:
            return ""
        body = session.vault.known_body(note)
        if body is not None:
            return body
        key = (note.id, note.version)
        if key in self._rows_unreadable:
            return ""
        if not self._rows_wanted:
            self.call_later(self._rows_drawn)
        self._rows_wanted[key] = note
        return None

    def _rows_drawn(self) -> None:
        wanted, self._rows_wanted = self._rows_wanted, {}
        if wanted:
            self._read_row_bodies(wanted)

    @work(thread=True, group="row-bodies", exit_on_error=False)
    def _read_row_bodies(self, wanted: dict[tuple[str, str], Note]) -> None:
        session = self.session
        if session is None:
            return
        for key, note in wanted.items():
            try:
                session.vault.whole(note)  # (kept among the last read: `known_body`)
            except VaultError:
                self._rows_unreadable.add(key)
        self.app.call_from_thread(self.notes_list.bodies_arrived)

    def refresh_bindings(self) -> None:
        self._bindings_shown = self._bindings_state()
        super().refresh_bindings()

    def refresh_bindings_if_changed(self) -> None:
        """Redraw the footer's keys only when what they offer changed. Redrawing rebuilds the
        footer, two layout passes of the whole screen: most of the time of moving from one
        note to the next, which changes nothing there (both are ordinary notes)."""
        if self._bindings_state() != self._bindings_shown:
            self.refresh_bindings()

    def _bindings_state(self) -> tuple[bool | None, ...]:
        return tuple(self.check_action(action, ()) for action in _VARYING_ACTIONS)

    def _catch_up(self, notes: list[Note], listing: list[Note] | None = None) -> None:
        """The list holds a newer version of the open note than the editor: if the person has
        not changed it since, show the newer one (another process or a sync wrote it).

        `listing`: the notes `notes` were taken from (ListLoaded.listing). Once the open note
        was settled against a listing (nothing left to do, nothing waiting), answers from
        that same listing (a search typed further) cannot hold anything newer: skipped."""
        current = self.pane.note
        session = self.session
        if current is None or session is None:
            return
        seen = (current.id, current.version, current.conflict)
        if listing is not None and listing is self._settled[0] and seen == self._settled[1]:
            return
        if self._catch_up_with(notes, current, session) and listing is not None:
            now = self.pane.note
            if now is not None:
                self._settled = (listing, (now.id, now.version, now.conflict))

    def _catch_up_with(self, notes: list[Note], current: Note, session: Session) -> bool:
        """`_catch_up`; False if something may still change the outcome (a save on its
        way, an older answer, unsaved typing)."""
        # C-level passes (this runs on every keystroke of a search, over up to every note),
        # the open note's own object first: the list often holds that very one.
        index = position_of(notes, current.id, current)
        if index is None:
            # Not in this answer, so not compared: a later answer from the same listing may
            # hold it, newer (found by review).
            return False
        fresh = notes[index]
        if fresh.version == current.version:
            if fresh.conflict != current.conflict:  # a sync forked (or settled) this version
                self._show_conflict_state(current, fresh.conflict)
            return True
        if session.superseded(fresh.version) or self._saves_in_flight:
            return False  # an older answer, or one of our own saves is on its way
        if self.dirty:
            return False  # keep what is typed; saving it keeps both versions (a conflict)
        if fresh.conflict and self._still_a_head(session, current):
            # The version in the editor is one of two that now wait for the person (a sync
            # brought in the other): keep showing it rather than swap in the other one.
            self._show_conflict_state(current, True)
            return True
        cursor = self.pane.text_area.cursor_location
        self.show_note(fresh)
        with contextlib.suppress(Exception):
            self.pane.text_area.move_cursor(cursor)
        return True

    def _show_conflict_state(self, note: Note, conflict: bool) -> None:
        if conflict and not note.conflict:
            self.notify(
                "This note was also changed on another device. Both versions are kept; the "
                "editor shows this one. f8 compares them.",
                title="Conflict",
                severity="warning",
                timeout=12,
            )
        marked = dataclasses.replace(note, conflict=conflict)
        self.pane.update_details(marked, self.notebook_path(marked.notebook))

    @staticmethod
    def _still_a_head(session: Session, note: Note) -> bool:
        try:
            return note.version in {op.op_id for op in session.vault.store.heads(note.id)}
        except VaultError:
            return False

    @on(TextArea.Changed, "#editor")
    def _edited(self, event: TextArea.Changed) -> None:
        if self.pane.loading_text or self.pane.note is None:
            return
        if self.dirty:
            self.pane.save_state = "unsaved"
            if self._autosave_timer is not None:
                self._autosave_timer.stop()
            self._autosave_timer = self.set_timer(self.autosave_seconds, self.save_now)
        elif not self._saves_in_flight:
            self.pane.save_state = "saved"
        if self.pane.preview != "off":
            if self._preview_timer is not None:
                self._preview_timer.stop()
            self._preview_timer = self.set_timer(PREVIEW_DELAY, self.pane.refresh_preview)

    def save_now(self) -> None:
        if self._autosave_timer is not None:
            self._autosave_timer.stop()
            self._autosave_timer = None
        note = self.pane.note
        if note is None or note.in_trash or self.session is None or not self.dirty:
            return
        self.pane.save_state = "saving"
        self._saves_in_flight += 1
        self.save_body(note, self.pane.text)

    @work(thread=True, group="save", exit_on_error=False)
    def save_body(self, note: Note, text: str) -> None:
        session = self.session
        if session is None:
            return
        written = session.save_body(note, text)
        self.post_message(NoteWritten(written, note.id, "saved", text))

    def leave_note(self) -> None:
        """Moving away from a note saves it first."""
        if self.dirty:
            self.save_now()

    def unsaved(self) -> Unsaved | None:
        """What is typed but not saved yet (for locking and quitting)."""
        note = self.pane.note
        if note is not None and not note.in_trash and self.dirty:
            return Unsaved(note, self.pane.text)
        return None

    def on_note_written(self, message: NoteWritten) -> None:
        if message.action == "saved":
            self._saves_in_flight = max(0, self._saves_in_flight - 1)
        current = self.pane.note
        if current is not None and message.note_id == current.id:
            if message.note is None:
                self.pane.clear()
            else:
                newly_conflicted = message.note.conflict and not current.conflict
                if message.action == "saved" and message.text is not None:
                    self.saved_text = message.text
                if message.note.in_trash != current.in_trash:
                    self.pane.show(message.note, self.notebook_path(message.note.notebook))
                    self.saved_text = message.note.body
                else:
                    self.pane.update_details(
                        message.note, self.notebook_path(message.note.notebook)
                    )
                self._show_save_state()
                if newly_conflicted:
                    self.notify(
                        "This note was also changed elsewhere (another device, or another "
                        "window) while you typed. Both versions are kept; the editor shows "
                        "yours. f8 compares them.",
                        title="Conflict",
                        severity="warning",
                        timeout=12,
                    )
        if message.undo is not None:
            self.offer_undo(message.undo)
            self.notify(f"{message.action}. ctrl+z undoes.", timeout=6, markup=False)
        elif message.action != "saved":
            self.notify(message.action, timeout=3, markup=False)
        self.schedule_reload()
        self.vault_app.local_change()

    def _show_save_state(self) -> None:
        if self.pane.note is None:
            self.pane.save_state = "none"
        elif self.dirty:
            self.pane.save_state = "unsaved"
        elif self._saves_in_flight:
            self.pane.save_state = "saving"
        else:
            self.pane.save_state = "saved"

    def on_change_done(self, message: ChangeDone) -> None:
        # ctrl+z takes back the last move of a note; after a change it cannot take back (a
        # notebook moved, a tag removed) it would take back an older one, unasked.
        self.forget_undo()
        if message.text:
            self.notify(message.text, timeout=4)
        if message.select:
            self._pending_select = message.select
        self.schedule_reload()
        self.vault_app.local_change()

    def on_work_failed(self, message: WorkFailed) -> None:
        if message.group == "list" and self._release_keys_on_load:
            self._release_keys_on_load = False
            self.vault_app.release_keys()
        if message.group == "write" and self._focus_editor_after_load:
            self._focus_editor_after_load = False  # the new note was not made
            self.vault_app.release_keys()
        if message.group == "save":
            self._saves_in_flight = max(0, self._saves_in_flight - 1)
            if self.pane.note is not None:
                self.pane.save_state = "failed" if self.dirty else "saved"

    # --- focus ----------------------------------------------------------------------------

    def focus_editor(self) -> None:
        if self.pane.note is None:
            return
        if self.pane.preview == "only":
            self.set_focus(self.query_one("#preview-scroll"))
        else:
            self.set_focus(self.pane.text_area)

    def on_note_opened(self, message: NoteOpened) -> None:
        self.focus_editor()

    def action_open_note(self) -> None:
        self.focus_editor()

    def action_leave_editor(self) -> None:
        self.save_now()
        self.set_focus(self.notes_list)

    def action_focus_list(self) -> None:
        self.set_focus(self.notes_list)

    def action_search(self) -> None:
        self.set_focus(self.search_box)

    def action_clear_search(self) -> None:
        if self.search_box.value:
            self.search_box.value = ""
        else:
            self.set_focus(self.notes_list)

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        query = parse_query(event.value)
        if query != self.search_query:
            self.search_query = query
            self.request_list()

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.set_focus(self.notes_list)

    def on_target_chosen(self, message: TargetChosen) -> None:
        if message.target != self.target:
            self.target = message.target
            self.request_list()
            self._update_list_title()
            # Only if the keys offered changed (a notebook's rename and delete): rebuilding
            # the footer lays out the whole screen, a frame drawn before the list's answer
            # can be (at 100,000 notes, 50-90 ms more from a click in the sidebar to its list).
            self.refresh_bindings_if_changed()
        if message.confirmed:
            self.set_focus(self.notes_list)

    # --- note actions ----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.session is None:
            return False
        try:
            return self._action_available(action)
        except NoMatches:  # asked while the screen is still being built
            return False

    def _action_available(self, action: str) -> bool:
        note = self.current_note()
        if action in _NOTE_ACTIONS:
            if note is None:
                return False
            if note.in_trash and action not in _TRASH_OK:
                return False
            if action == "restore_note" and not note.in_trash:
                return False
        if action == "undo":
            return self._undo is not None
        if action in ("rename_notebook", "delete_notebook", "move_notebook"):
            target = self.sidebar.highlighted_target
            return target is not None and target.kind == "notebook"
        if action in ("rename_tag", "remove_tag"):
            target = self.sidebar.highlighted_target
            return target is not None and target.kind == "tag" and bool(target.ref)
        if action == "empty_trash":
            return self.sidebar.highlighted_target == TRASH or self.target.is_trash
        return True

    # --- view ------------------------------------------------------------------------------

    def _set_target(self, target: Target) -> None:
        self.target = target
        self.sidebar.show(self.sidebar_data, target, reveal=True)

    def action_cycle_preview(self) -> None:
        modes = PREVIEW_MODES
        mode: PreviewMode = modes[(modes.index(self.pane.preview) + 1) % len(modes)]
        self.pane.preview = mode
        self.vault_app.save_setting("ui.preview", mode)
        if mode == "only" and self.pane.text_area.has_focus:
            self.focus_editor()
        self._layout_for(self.size.width)

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.vault_app.save_setting("ui.sort", self.sort)
        self.request_list()
        self._update_list_title()
        if not self.search_query.empty:
            self.notify("Search results are ordered by relevance.", timeout=3)

    def action_toggle_sidebar(self) -> None:
        shown = not self.sidebar.display
        self._sidebar_wanted = shown
        self.sidebar.display = shown
        if shown:
            self.set_focus(self.sidebar)

    @on(Markdown.LinkClicked)
    def _link(self, event: Markdown.LinkClicked) -> None:
        href = event.href
        if href.startswith(("https://", "http://", "mailto:")):
            self.app.open_url(href)
        elif (address := link_address(href)) is not None:
            self.follow(*address)
        elif href.startswith("attachment:"):
            self.open_attachment_link(href)
        else:
            self.notify("Only web and mail links open from the preview.", timeout=3)

    # --- external editor ------------------------------------------------------------------------

    def action_external_edit(self) -> None:
        note = self.pane.note
        if note is None or note.in_trash or self.session is None:
            return
        if note.conflict:
            self.notify(
                "Versions conflict: f8 compares and settles them; then the note can be edited.",
                title="Conflict",
                severity="warning",
                timeout=6,
            )
            return
        text = self.pane.text
        config = self.vault_app.config
        fallback = self.session.vault.path / ".edit"
        try:
            if self.app.is_headless:
                # No terminal to hand over (tests): run the editor as it is.
                edited = edit_text(text, command=config.get("editor.command"), fallback=fallback)
            else:
                with self.app.suspend():
                    edited = edit_text(
                        text, command=config.get("editor.command"), fallback=fallback
                    )
        except VaultError as exc:
            self.notify(str(exc), title="Editor", severity="error")
            return
        except SuspendNotSupported:
            self.notify("This terminal cannot hand over to an editor.", severity="error")
            return
        finally:
            self.vault_app.mark_active()
        if edited != text:
            self.pane.replace_text(edited)
            self.save_now()

    # --- locking ------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Drop every decrypted value from the widgets and from this screen (locking)."""
        timers = (self._autosave_timer, self._preview_timer, self._reload_timer, self._show_timer)
        for timer in timers:
            if timer is not None:
                timer.stop()
        self._autosave_timer = self._preview_timer = self._reload_timer = self._show_timer = None
        self.workers.cancel_node(self)  # its own workers; the app's (sync, locking) go on
        self.forget_undo()  # it holds a note
        self.session = None
        if self.source is not None:
            self.source.clear()
        self.source = None
        self._generation += 1
        self.pane.clear()
        self.wipe_attachments()
        self.close_link_panel()
        self.notes_list.clear()
        self.sidebar.clear_all()
        with self.search_box.prevent(Input.Changed):
            self.search_box.value = ""
        self.query_one(StatusBar).clear()
        self.query_one("#list-pane").border_title = ""
        self.query_one("#list-pane").border_subtitle = ""
        self.sidebar_data = SidebarData()
        self.search_query = Query()
        self.saved_text = ""
        self._pending_select = None
        self._fold_after_list = self._list_partial = self._listing_wanted = False
        self._list_total = None
        self._listing = None
        self._settled = (None, None)
