"""What the main screen's mixins (LinkActions, NoteActions, SyncAndBackup, PaletteSupport) use
of the screen they are mixed into, and of each other.

They used to name `MainScreen` for this, which imports them: a circle. `MainHost` is the
screen's side spelled out for type checkers; at run time the mixins derive from `object` and
MainScreen (vault/tui/screens/main.py) brings them together, so nothing here imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widgets import Input

    from vault.notes.model import Note
    from vault.notes.search import Query
    from vault.tui.data import NoteSource, SidebarData, Target
    from vault.tui.services import AppServices
    from vault.tui.session import Session
    from vault.tui.timefmt import Clock
    from vault.tui.widgets.editor import EditorPane
    from vault.tui.widgets.note_list import NoteList
    from vault.tui.widgets.sidebar import Sidebar

    class MainHost(Screen[None]):
        """For type checkers only (see the module's docstring)."""

        session: Session | None
        source: NoteSource | None
        clock: Clock
        target: Target
        sort: str
        search_query: Query
        sidebar_data: SidebarData
        _focus_editor_after_load: bool
        _pending_select: str | None
        _saves_in_flight: int

        @property
        def vault_app(self) -> AppServices: ...
        @property
        def pane(self) -> EditorPane: ...
        @property
        def notes_list(self) -> NoteList: ...
        @property
        def sidebar(self) -> Sidebar: ...
        @property
        def search_box(self) -> Input: ...
        @property
        def dirty(self) -> bool: ...

        def current_note(self) -> Note | None: ...
        def notebook_path(self, notebook_id: str | None) -> str: ...
        def show_note(self, note: Note) -> None: ...
        def leave_note(self) -> None: ...
        def save_now(self) -> None: ...
        def request_list(self, select: str | None = None) -> None: ...
        def request_sidebar(self) -> None: ...
        def schedule_reload(self) -> None: ...
        def set_status(self, key: str, text: str, tooltip: str | None = None) -> None: ...
        def _set_target(self, target: Target) -> None: ...
        def _show_save_state(self) -> None: ...
        def _update_list_title(self) -> None: ...

        # One mixin's methods that another uses.
        def go_to_note(self, note_id: str) -> None: ...  # PaletteSupport
        def rename_with_links(self, note: Note, title: str) -> None: ...  # LinkActions
        def _sidebar_notebook(self) -> Target | None: ...  # NoteActions
        def _sidebar_tag(self) -> str | None: ...  # NoteActions

else:
    MainHost = object
