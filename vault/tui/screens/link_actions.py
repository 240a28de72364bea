"""Links on the main screen (a mixin of MainScreen): the backlinks and outline panels, following
the `[[link]]` under the cursor (a dangling one offers to create its note), today's note, a new
note from a template, renaming with the links that point to it, and the word count.

Backlinks come from `vault.notes.links.link_index` in a worker (its first build reads every note);
the outline and the counts from the text in the editor, as typed.
"""

from __future__ import annotations

from textual import work
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import TextArea

from vault.errors import VaultError
from vault.notes.links import Link, link_index, parse_links
from vault.notes.model import Note
from vault.notes.outline import counts, outline
from vault.notes.renaming import rename_message
from vault.notes.templates import NoteSettings, fill, templates
from vault.textsafe import visible
from vault.tui.messages import ListLoaded, NoteWritten
from vault.tui.screens.dialogs import ConfirmDialog, PromptDialog
from vault.tui.screens.host import MainHost
from vault.tui.screens.link_picker import LinkPicker
from vault.tui.screens.template_picker import TemplatePicker
from vault.tui.widgets.link_panel import LinkPanel, PanelKind

PANEL_DELAY = 0.3


class LinkActions(MainHost):
    _panel_timer: Timer | None = None
    _pending_line: tuple[str, int] | None = None  # (note id, line) to put the cursor on
    _links_warmed = False

    # --- the panels ---------------------------------------------------------------------------

    @property
    def link_panel(self) -> LinkPanel | None:
        try:
            return self.query_one(LinkPanel)
        except NoMatches:
            return None

    async def action_toggle_backlinks(self) -> None:
        await self._toggle_panel("backlinks")

    async def action_toggle_outline(self) -> None:
        await self._toggle_panel("outline")

    async def _toggle_panel(self, kind: PanelKind) -> None:
        panel = self.link_panel
        if panel is not None:
            await panel.remove()
            if panel.kind == kind:
                self._relayout()
                return
        panel = LinkPanel(kind)
        await self.query_one("#body").mount(panel)  # it says when it is Ready
        self._relayout()

    def _relayout(self) -> None:
        """The panel takes room beside the editor: the layout makes room for it (MainScreen)."""
        layout = getattr(self, "_layout_for", None)
        if layout is not None:
            layout(self.size.width)

    # Handlers by name, not @on: a mixin is no MessagePump, and Textual collects @on handlers
    # only from those; named handlers are found on every class of the MRO.
    def on_link_panel_ready(self, message: LinkPanel.Ready) -> None:
        self.refresh_link_panel()

    def close_link_panel(self) -> None:
        """Locking: the panel's rows are note text."""
        panel = self.link_panel
        if panel is not None:
            panel.clear_rows()
            panel.remove()
        self._pending_line = None
        self._links_warmed = False

    def refresh_link_panel(self) -> None:
        panel = self.link_panel
        if panel is None or not panel.is_mounted:
            return
        note = self.pane.note
        if note is None:
            panel.clear_rows()
        elif panel.kind == "outline":
            panel.show_outline(outline(self.pane.text))
        else:
            self._load_backlinks(note)

    @work(thread=True, exclusive=True, group="warm-links", exit_on_error=False)
    def _warm_links(self) -> None:
        session = self.session
        if session is not None:
            link_index(session.vault).refresh()

    @work(thread=True, exclusive=True, group="backlinks", exit_on_error=False)
    def _load_backlinks(self, note: Note) -> None:
        session = self.session
        if session is None:
            return
        found = link_index(session.vault).backlinks(note)
        self.app.call_from_thread(self._show_backlinks, note.id, found)

    def _show_backlinks(self, note_id: str, found: list) -> None:  # type: ignore[type-arg]
        panel = self.link_panel
        current = self.pane.note
        if panel is not None and panel.kind == "backlinks" and current and current.id == note_id:
            panel.show_backlinks(found)

    def on_list_loaded(self, message: ListLoaded) -> None:
        """The list reloads after every change, ours or a sync's: so do the backlinks. The
        first time the notes all have their bodies (MainScreen.warm_search reads them after
        the first list), the link index is built in a worker, before anyone asks for it."""
        session = self.session
        if not self._links_warmed and session is not None and not session.vault.bodies_pending:
            self._links_warmed = True
            self._warm_links()
        panel = self.link_panel
        if panel is not None and panel.kind == "backlinks":
            self.refresh_link_panel()

    def on_link_panel_chosen(self, message: LinkPanel.Chosen) -> None:
        place = message.place
        current = self.pane.note
        if place.note_id is None or (current is not None and current.id == place.note_id):
            self._put_cursor(place.line)
            return
        self._pending_line = (place.note_id, place.line)
        self.go_to_note(place.note_id)

    def _put_cursor(self, line: int) -> None:
        area = self.pane.text_area
        if self.pane.preview == "only":
            self.pane.preview = "side"
        area.move_cursor((min(line, area.document.line_count - 1), 0), center=True)
        area.focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id != "editor":
            return
        note = self.pane.note
        if note is None:
            self.set_status("counts", "")
            return
        size = counts(self.pane.text)
        words = "word" if size.words == 1 else "words"
        self.set_status("counts", f"{size.words:,} {words} · {size.characters:,} chars")
        if not self.pane.loading_text and self._typed_link_opener():
            self._complete_link()
        pending = self._pending_line
        if pending is not None and pending[0] == note.id:
            self._pending_line = None
            self.call_after_refresh(self._put_cursor, pending[1])
        if self.link_panel is not None:
            if self._panel_timer is not None:
                self._panel_timer.stop()
            self._panel_timer = self.set_timer(PANEL_DELAY, self.refresh_link_panel)

    def on_text_area_selection_changed(self, event: TextArea.SelectionChanged) -> None:
        """On a link, the status says where it leads (a missing note is shown as such)."""
        if event.text_area.id != "editor" or self.session is None or self.pane.note is None:
            return
        row, column = event.selection.end
        line = event.text_area.document.get_line(row) if "[[" in self.pane.text else ""
        link = (
            next((k for k in parse_links(line) if k.start <= column <= k.end), None)
            if "[[" in line
            else None
        )
        if link is None:
            self.set_status("link", "")
        else:
            self._link_status(self.pane.note.id, link.target)

    @work(thread=True, exclusive=True, group="link-status", exit_on_error=False)
    def _link_status(self, note_id: str, target: str) -> None:
        """In a worker: after a change, resolving waits for the index to catch up."""
        session = self.session
        if session is None:
            return
        status = link_index(session.vault).resolve(target, note_id).status
        text = {
            "missing": "link to a missing note: f12 creates it",
            "ambiguous": "link to several notes of that title",
        }.get(status, "link: f12 follows it")
        self.app.call_from_thread(self.set_status, "link", text)

    # --- completing [[ -------------------------------------------------------------------------

    def _typed_link_opener(self) -> bool:
        """The cursor is right after a `[[` just typed (not one that closes)."""
        area = self.pane.text_area
        row, column = area.cursor_location
        before = area.document.get_line(row)[:column]
        return before.endswith("[[") and not before.endswith("[[[")

    def _complete_link(self) -> None:
        session = self.session
        if session is None or self.pane.note is None:
            return
        own = self.pane.note.id
        notes = sorted(
            (n for n in session.vault.all_notes(bodies=False) if not n.in_trash and n.id != own),
            key=lambda n: -n.modified,
        )

        def chosen(title: str | None) -> None:
            area = self.pane.text_area
            if title is not None:
                area.insert(title + "]]")
            area.focus()

        # Keys typed right after the brackets (a whole `[[Title]]` typed in one go) belong in
        # the picker's field, which has the focus only once it is mounted: the gate holds them
        # until then (the picker releases them), or the first letters stayed in the note.
        self.vault_app.hold_keys()
        picker = LinkPicker([n.title for n in notes], ready=self.vault_app.release_keys)
        self.app.push_screen(picker, chosen)

    # --- following links ------------------------------------------------------------------------

    def link_at_cursor(self) -> Link | None:
        if self.pane.note is None:
            return None
        row, column = self.pane.text_area.cursor_location
        for link in parse_links(self.pane.text):
            if link.line == row and link.start <= column <= link.end:
                return link
        return None

    def action_follow_link(self) -> None:
        link = self.link_at_cursor()
        if link is None:
            self.notify("No [[link]] under the cursor.", timeout=3)
            return
        self.follow(link.target, link.heading)

    def follow(self, target: str, heading: str | None = None) -> None:
        session, note = self.session, self.pane.note
        if session is None or note is None:
            return
        resolution = link_index(session.vault).resolve(target, note.id)
        if resolution.status == "ambiguous":
            self.notify(
                f"{len(resolution.note_ids)} notes have this title; rename one to link to it.",
                severity="warning",
            )
            return
        if resolution.status == "missing":
            self._offer_to_create(target)
            return
        note_id = resolution.note_id or note.id
        line = self._heading_line(session.vault.note(note_id), heading)
        self.leave_note()
        if note_id == note.id:
            if line is not None:
                self._put_cursor(line)
            return
        if line is not None:
            self._pending_line = (note_id, line)
        self.go_to_note(note_id)

    @staticmethod
    def _heading_line(note: Note, heading: str | None) -> int | None:
        if not heading:
            return None
        wanted = " ".join(heading.split()).casefold()
        for h in outline(note.body):
            if " ".join(h.text.split()).casefold() == wanted:
                return h.line
        return None

    def _offer_to_create(self, title: str) -> None:
        current = self.pane.note
        notebook = current.notebook if current is not None else None

        def answered(yes: bool | None) -> None:
            if yes:
                self._create_and_open(title, "", notebook)

        self.app.push_screen(
            ConfirmDialog("No such note", f"No note is titled '{title}'. Create it?", "Create"),
            answered,
        )

    @work(thread=True, group="write", exit_on_error=False)
    def _create_and_open(self, title: str, body: str, notebook: str | None) -> None:
        session = self.session
        if session is None:
            return
        note = session.create(title, body, notebook=notebook)
        self.app.call_from_thread(self._opened_new, note.id)

    def _opened_new(self, note_id: str) -> None:
        self.vault_app.local_change()
        self.go_to_note(note_id)
        # One more note in its notebook, which may be new too (today's note makes Journal):
        # the sidebar's counts and names, and the note's details line with them.
        self.request_sidebar()

    # --- today's note and templates ------------------------------------------------------------

    def action_today(self) -> None:
        self.leave_note()
        self._open_today()

    @work(thread=True, group="write", exit_on_error=False)
    def _open_today(self) -> None:
        session = self.session
        if session is None:
            return
        settings = NoteSettings.from_config(self.vault_app.config)
        note = session.today(settings, self.clock().astimezone())
        self.app.call_from_thread(self._opened_new, note.id)

    def action_new_from_template(self) -> None:
        session = self.session
        if session is None:
            return
        settings = NoteSettings.from_config(self.vault_app.config)
        found = templates(session.vault, settings)
        if not found:
            self.notify(
                f"No templates yet: notes in the notebook '{settings.templates_notebook}' are "
                "templates (setting notes.templates_notebook).",
                timeout=8,
            )
            return
        target = self.target
        notebook = target.ref if target.kind == "notebook" else None

        def picked(template: Note | None) -> None:
            if template is None:
                return

            def titled(title: str | None) -> None:
                if title:
                    self.leave_note()
                    body = fill(template.body, title, self.clock().astimezone())
                    self._create_and_open(title, body, notebook)

            hint = f"From the template {visible(template.title)}"
            self.app.push_screen(
                PromptDialog("New note", placeholder="Title", action="Create", hint=hint), titled
            )

        self.app.push_screen(TemplatePicker(found), picked)

    # --- renaming -------------------------------------------------------------------------------

    @work(thread=True, group="write", exit_on_error=False)
    def rename_with_links(self, note: Note, title: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            result = session.rename(note, title)
        except VaultError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        message = rename_message(result).replace(f"Renamed {result.note.id[:8]}", "Renamed")
        self.post_message(NoteWritten(result.note, note.id, message))
