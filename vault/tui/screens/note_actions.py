"""What a person does to notes and notebooks from the main screen: new, rename, tags, move,
pin, trash, restore, delete for good, empty the trash, and new / rename / delete notebook.

A mixin of MainScreen, kept apart so the screen's module stays about showing and editing.
Every change runs in a worker and comes back as NoteWritten or ChangeDone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from textual import work
from textual.timer import Timer
from textual.widgets import Input

from vault.errors import InvalidInputError
from vault.notes.filing import clean_tag, descendants, sibling_named
from vault.notes.model import Note
from vault.notes.search import Query
from vault.textsafe import visible
from vault.tui.data import ALL, Target, describe_target
from vault.tui.messages import ChangeDone, NoteWritten, Undo
from vault.tui.screens.dialogs import (
    ConfirmDialog,
    MoveChoice,
    MoveDialog,
    PromptDialog,
    TagsDialog,
)
from vault.tui.screens.history import HistoryScreen
from vault.tui.screens.host import MainHost
from vault.tui.session import Session
from vault.wording import plural

Change = Callable[[Session, Note], Note | None]
_HEADING_MARK = re.compile(r"^#{1,6}\s+")
UNDO_SECONDS = 30.0  # how long ctrl+z takes back the last move to the trash or a notebook


@dataclass(frozen=True)
class Undoable:
    """How to take back a change once it is written: `back` applied to the written note."""

    what: str
    back: Callable[[Session, Note], Note]


class NoteActions(MainHost):
    _undo: Undo | None = None
    _undo_timer: Timer | None = None

    def _write(self, action: str, note: Note, change: Change, undo: Undoable | None = None):  # type: ignore[no-untyped-def]
        self.leave_note()
        self.write_note(action, note, change, undo)

    @work(thread=True, group="write", exit_on_error=False)
    def write_note(
        self, action: str, note: Note, change: Change, undoable: Undoable | None = None
    ) -> None:
        session = self.session
        if session is None:
            return
        written = change(session, note)
        undo = None
        if undoable is not None and written is not None:
            undo = Undo(undoable.what, written, undoable.back)
        self.post_message(NoteWritten(written, note.id, action, undo=undo))

    # --- undo --------------------------------------------------------------------------------

    def offer_undo(self, undo: Undo) -> None:
        """The last move to the trash or to a notebook can be taken back with ctrl+z (outside
        the editor, where ctrl+z undoes typing) for UNDO_SECONDS."""
        self._undo = undo
        if self._undo_timer is not None:
            self._undo_timer.stop()
        self._undo_timer = self.set_timer(UNDO_SECONDS, self.forget_undo)
        self.refresh_bindings()

    def forget_undo(self) -> None:
        self._undo = None
        if self._undo_timer is not None:
            self._undo_timer.stop()
            self._undo_timer = None
        self.refresh_bindings()

    def action_undo(self) -> None:
        undo = self._undo
        if undo is None:
            return
        self.forget_undo()
        self._pending_select = undo.note.id
        self._write(f"Undone: {undo.what}", undo.note, undo.change)

    @work(thread=True, group="write", exit_on_error=False)
    def change_vault(self, change: Callable[[Session], tuple[str, str | None]]) -> None:
        session = self.session
        if session is None:
            return
        text, select = change(session)
        self.post_message(ChangeDone(text, select))

    def action_new_note(self) -> None:
        def created(title: str | None) -> None:
            if not title:
                return
            # "# Groceries" is a heading typed out of habit: the title is what follows it.
            title = _HEADING_MARK.sub("", title, count=1) or title
            target = self.target
            notebook = target.ref if target.kind == "notebook" else None
            tags = [target.ref] if target.kind == "tag" and target.ref else []
            # The new note must be in the list it opens from: a notebook or tag view holds it,
            # Pinned or the trash would not, so those switch to all notes.
            if target.kind not in ("notebook", "tag"):
                self._set_target(ALL)
                self._update_list_title()
            if self.search_box.value:
                with self.search_box.prevent(Input.Changed):
                    self.search_box.value = ""
                self.search_query = Query()
            self.leave_note()
            self._focus_editor_after_load = True
            # What is typed next belongs in the new note: keep it until the note is open.
            self.vault_app.hold_keys()

            def create(session: Session) -> tuple[str, str | None]:
                note = session.create(title, "", notebook=notebook, tags=tags)
                return "", note.id

            self.change_vault(create)

        where = describe_target(self.target, self.sidebar_data)
        hint = f"In {where}." if self.target.kind in ("notebook", "tag") else ""
        self.app.push_screen(
            PromptDialog("New note", placeholder="Title", action="Create", hint=hint), created
        )

    def action_save(self) -> None:
        self.save_now()
        if not self.dirty and not self._saves_in_flight:
            self._show_save_state()

    def action_rename_note(self) -> None:
        note = self.current_note()
        if note is None:
            return

        def renamed(title: str | None) -> None:
            if title and title != note.title:
                self.leave_note()
                self.rename_with_links(note, title)  # links to it follow (LinkActions)

        self.app.push_screen(
            PromptDialog("Rename note", value=note.title, action="Rename"), renamed
        )

    def action_edit_tags(self) -> None:
        note = self.current_note()
        if note is None:
            return

        def tagged(tags: list[str] | None) -> None:
            if tags is not None and tuple(tags) != note.tags:
                self._write("Tags saved", note, lambda s, n: s.update(n, tags=tags))

        known = [t.name for t in self.sidebar_data.tags]
        self.app.push_screen(TagsDialog(note.title, note.tags, known), tagged)

    def action_move_note(self) -> None:
        note = self.current_note()
        if note is None:
            return

        def moved(choice: MoveChoice | None) -> None:
            if choice is None:
                return
            if choice.new_path:
                path = choice.new_path

                def move_new(session: Session, n: Note) -> Note:
                    notebook, _ = session.vault.ensure_notebook(path)
                    return session.update(n, notebook=notebook.id)

                self._write(f"Moved to {path}", note, move_new, self._move_back(note, path))
            elif choice.notebook_id != note.notebook:
                where = self.notebook_path(choice.notebook_id) or "the top level"
                nb = choice.notebook_id
                self._write(
                    f"Moved to {where}",
                    note,
                    lambda s, n: s.update(n, notebook=nb),
                    self._move_back(note, where),
                )

        books = [(nb.id, nb.path) for nb in self.sidebar_data.notebooks]
        self.app.push_screen(MoveDialog(note.title, books, note.notebook), moved)

    def action_history(self) -> None:
        note = self.current_note()
        session = self.session
        if note is None or session is None or note.in_trash:
            return
        self.save_now()  # what is typed is the newest version, and in the list

        def closed(restored: Note | None) -> None:
            if restored is None:
                return
            current = self.pane.note
            if current is not None and current.id == restored.id:
                self.show_note(restored)
            title = visible(restored.title)
            self.notify(f"Restored an earlier version of “{title}”.", timeout=4, markup=False)
            self.schedule_reload()
            self.vault_app.local_change()

        self.app.push_screen(
            HistoryScreen(session, note, clock=self.clock, notebook_path=self.notebook_path),
            closed,
        )

    @staticmethod
    def _move_back(note: Note, where: str) -> Undoable:
        home = note.notebook
        return Undoable(
            f"moving “{visible(note.title)}” to {where}", lambda s, n: s.update(n, notebook=home)
        )

    def action_toggle_pin(self) -> None:
        note = self.current_note()
        if note is None:
            return
        pinned = not note.pinned
        self._write(
            "Pinned" if pinned else "Unpinned", note, lambda s, n: s.update(n, pinned=pinned)
        )

    def action_trash_note(self) -> None:
        note = self.current_note()
        if note is None:
            return
        if not note.in_trash:
            pinned = note.pinned  # the trash unpins; taking it back pins it again

            def back(session: Session, n: Note) -> Note:
                restored = session.restore(n)
                return session.update(restored, pinned=True) if pinned else restored

            undo = Undoable(f"moving “{visible(note.title)}” to the trash", back)
            self._write("Moved to the trash", note, lambda s, n: s.trash(n), undo)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:

                def purge(session: Session, n: Note) -> None:
                    session.purge(n)
                    return None

                self._write("Deleted for good", note, purge)

        self.app.push_screen(
            ConfirmDialog(
                "Delete for good?",
                f"“{note.title}” and all its earlier versions will be erased. "
                "This cannot be undone.",
                "Delete",
                danger=True,
            ),
            confirmed,
        )

    def action_restore_note(self) -> None:
        note = self.current_note()
        if note is not None and note.in_trash:
            self._write("Restored", note, lambda s, n: s.restore(n))

    def action_empty_trash(self) -> None:
        if self.sidebar_data.loading:
            self.notify("Still reading the notes; try again in a moment.", timeout=3)
            return
        count = self.sidebar_data.trash
        if not count:
            self.notify("The trash is already empty.", timeout=3)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                if self.pane.note is not None and self.pane.note.in_trash:
                    self.pane.clear()

                def empty(session: Session) -> tuple[str, str | None]:
                    n = session.empty_trash()
                    return f"Deleted {plural(n, 'note')} for good", None

                self.change_vault(empty)

        noun = "note" if count == 1 else "notes"
        self.app.push_screen(
            ConfirmDialog(
                "Empty the trash?",
                f"{count} {noun} and all their earlier versions will be erased. "
                "This cannot be undone.",
                "Empty trash",
                danger=True,
            ),
            confirmed,
        )

    # --- tags -----------------------------------------------------------------------------

    def _sidebar_tag(self) -> str | None:
        """The tag highlighted in the sidebar, else the one on view."""
        target = self.sidebar.highlighted_target
        if target is not None and target.kind == "tag" and target.ref:
            return target.ref
        return self.target.ref if self.target.kind == "tag" and self.target.ref else None

    def action_rename_tag(self) -> None:
        old = self._sidebar_tag()
        if old is None:
            return
        # (`old` may be a name from another device that this one would refuse, "a,b": it is
        # only ever matched, never cleaned; the new name is.)
        known = {tag.name.casefold(): tag.name for tag in self.sidebar_data.tags}

        def refused(name: str) -> str | None:
            try:
                clean_tag(name)
            except InvalidInputError as exc:
                return f"{str(exc)[0].upper()}{str(exc)[1:]}."
            return None

        def rename(new: str) -> None:
            if self.target == Target("tag", old):
                self._set_target(Target("tag", new))
                self._update_list_title()

            def write(session: Session) -> tuple[str, str | None]:
                count = session.vault.rename_tag(old, new)
                return f"Renamed #{visible(old)} to #{new} on {plural(count, 'note')}", None

            self.change_vault(write)

        def renamed(name: str | None) -> None:
            if not name or name == old:
                return
            new = clean_tag(name)
            other = known.get(new.casefold())
            if other is None or new.casefold() == old.casefold():
                rename(new)
                return
            self.app.push_screen(
                ConfirmDialog(
                    "Merge the two tags?",
                    f"#{visible(other)} is a tag already. The notes carrying #{visible(old)} "
                    f"will carry #{visible(other)} instead, and #{visible(old)} goes.",
                    "Merge tags",
                ),
                lambda yes: rename(other) if yes else None,
            )

        self.app.push_screen(
            PromptDialog(
                "Rename tag",
                value=old,
                action="Rename",
                hint="On every note that carries it, in the trash too.",
                check=refused,
            ),
            renamed,
        )

    def action_remove_tag(self) -> None:
        name = self._sidebar_tag()
        if name is None:
            return
        count = next((t.notes for t in self.sidebar_data.tags if t.name == name), 0)

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            if self.target == Target("tag", name):
                self._set_target(ALL)
                self._update_list_title()

            def remove(session: Session) -> tuple[str, str | None]:
                removed = session.vault.delete_tag(name)
                return f"Removed #{visible(name)} from {plural(removed, 'note')}", None

            self.change_vault(remove)

        self.app.push_screen(
            ConfirmDialog(
                "Remove tag?",
                f"#{visible(name)} will be taken off {plural(count, 'note')}, and off the "
                "notes in the trash that carry it. The notes stay where they are.",
                "Remove tag",
                danger=True,
            ),
            confirmed,
        )

    # --- notebooks ------------------------------------------------------------------------

    def _sidebar_notebook(self) -> Target | None:
        target = self.sidebar.highlighted_target
        if target is not None and target.kind == "notebook":
            return target
        return self.target if self.target.kind == "notebook" else None

    def action_new_notebook(self) -> None:
        parent = self._sidebar_notebook()
        parent_path = self.notebook_path(parent.ref) if parent else ""

        def created(name: str | None) -> None:
            if not name:
                return
            path = f"{parent_path}/{name}" if parent_path else name

            def create(session: Session) -> tuple[str, str | None]:
                _, new = session.vault.ensure_notebook(path)
                return (f"Created notebook {path}" if new else f"{path} already exists"), None

            self.change_vault(create)

        hint = f"Inside {parent_path}. " if parent_path else ""
        self.app.push_screen(
            PromptDialog(
                "New notebook",
                placeholder="Name",
                action="Create",
                hint=hint + "Use / to nest: Work/Projects.",
            ),
            created,
        )

    def action_rename_notebook(self) -> None:
        target = self._sidebar_notebook()
        entry_ = self.sidebar_data.notebook(target.ref) if target else None
        if entry_ is None:
            return
        notebook_id = entry_.id

        def renamed(name: str | None) -> None:
            if not name or name == entry_.name:
                return

            def rename(session: Session) -> tuple[str, str | None]:
                nb = session.vault.notebook(notebook_id)
                session.vault.rename_notebook(nb, name)
                return f"Renamed notebook to {name}", None

            self.change_vault(rename)

        def refused(name: str) -> str | None:
            if "/" in name:
                return "A name cannot hold '/': it separates nested notebooks."
            twin = sibling_named(self.sidebar_data.notebooks, name, entry_.parent, notebook_id)
            return f"{visible(twin.path)} is there already: pick another name." if twin else None

        self.app.push_screen(
            PromptDialog("Rename notebook", value=entry_.name, action="Rename", check=refused),
            renamed,
        )

    def action_move_notebook(self) -> None:
        target = self._sidebar_notebook()
        entry_ = self.sidebar_data.notebook(target.ref) if target else None
        if entry_ is None:
            return
        notebook_id, path = entry_.id, entry_.path
        # Not into itself, nor into one of its own notebooks (the domain refuses both).
        inside = descendants(self.sidebar_data.notebooks, notebook_id)
        books = [(nb.id, nb.path) for nb in self.sidebar_data.notebooks if nb.id not in inside]

        def chosen(choice: MoveChoice | None) -> None:
            if choice is None:
                return
            new_path = choice.new_path
            if new_path is None and choice.notebook_id == entry_.parent:
                return  # where it is already

            def move(session: Session) -> tuple[str, str | None]:
                vault = session.vault
                nb = vault.notebook(notebook_id)
                if new_path is not None:
                    moved = vault.move_notebook_to(nb, new_path)
                else:
                    moved = vault.move_notebook(nb, choice.notebook_id)
                return f"Moved notebook to {vault.notebook_path(moved.id)}", None

            self.change_vault(move)

        self.app.push_screen(
            MoveDialog(
                path,
                books,
                entry_.parent,
                heading="Move notebook under",
                top="(the top level)",
                inside=[nb.path for nb in self.sidebar_data.notebooks if nb.id in inside],
            ),
            chosen,
        )

    def action_delete_notebook(self) -> None:
        target = self._sidebar_notebook()
        entry_ = self.sidebar_data.notebook(target.ref) if target else None
        if entry_ is None:
            return
        notebook_id = entry_.id
        inside = [nb for nb in self.sidebar_data.notebooks if nb.path.startswith(entry_.path + "/")]
        notes = entry_.notes  # sub-notebooks included
        extra = f" and its {plural(len(inside), 'sub-notebook')}" if inside else ""

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            def delete(session: Session) -> tuple[str, str | None]:
                trashed = session.vault.delete_notebook(session.vault.notebook(notebook_id))
                return f"Deleted notebook; {plural(trashed, 'note')} moved to the trash", None

            self.change_vault(delete)

        self.app.push_screen(
            ConfirmDialog(
                "Delete notebook?",
                f"{entry_.path}{extra} will be deleted. Its notes ({plural(notes, 'note')}) go "
                "to the trash, where you can restore them.",
                "Delete notebook",
                danger=True,
            ),
            confirmed,
        )
