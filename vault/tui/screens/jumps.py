"""The command palette's side of the main screen: the entries to jump to (notes, notebooks,
tags) and the actions that make sense where the person is. A mixin of MainScreen; the
providers in vault/tui/providers.py ask it when the palette opens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from vault.errors import VaultError
from vault.notes.search import Query
from vault.tui.data import ALL, TRASH, Target
from vault.tui.providers import Entry, PaletteAction, entry
from vault.tui.screens.entry import display_path
from vault.tui.screens.host import MainHost
from vault.tui.timefmt import relative_time
from vault.wording import plural


class PaletteSupport(MainHost):
    # --- the command palette ------------------------------------------------------------------

    def go_to_note(self, note_id: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            note = session.vault.note(note_id)
        except VaultError as exc:
            self.notify(str(exc), severity="error")
            return
        self.leave_note()
        if self.search_box.value:
            self.search_box.value = ""
            self.search_query = Query()
        if not (self.target == ALL and not note.in_trash):
            self._set_target(TRASH if note.in_trash else ALL)
        self._focus_editor_after_load = True
        self.request_list(select=note.id)

    def go_to_target(self, target: Target) -> None:
        self._set_target(target)
        self.request_list()
        self._update_list_title()
        self.notes_list.focus()

    def jump_entries(self) -> list[Entry]:
        session = self.session
        if session is None:
            return []
        items: list[Entry] = []
        loading = self.sidebar_data.loading  # (the counts are not known yet)
        for nb in self.sidebar_data.notebooks:
            target = Target("notebook", nb.id)
            about = "notebook" if loading else f"notebook · {_count(nb.notes)}"
            items.append(entry(nb.path, about, _bind(self.go_to_target, target)))
        for tag in self.sidebar_data.tags:
            target = Target("tag", tag.name)
            items.append(
                entry(
                    f"#{tag.name}", f"tag · {_count(tag.notes)}", _bind(self.go_to_target, target)
                )
            )
        now = self.clock()
        notes = sorted(session.vault.all_notes(bodies=False), key=lambda n: -n.modified)
        for note in notes:
            where = (
                "in the trash" if note.in_trash else (self.notebook_path(note.notebook) or "note")
            )
            items.append(
                entry(
                    note.title,
                    f"{where} · {relative_time(note.modified, now)}",
                    _bind(self.go_to_note, note.id),
                )
            )
        return items

    def palette_actions(self) -> list[PaletteAction]:
        note = self.current_note()
        actions: list[tuple[str, str, str]] = [
            ("New note", "Write a new note here", "new_note"),
            ("Search notes", "Filter the list as you type", "search"),
            ("Lock the vault", "Clear everything from the screen and lock", "lock"),
            ("New notebook", "Create a notebook (use / to nest)", "new_notebook"),
            ("Show all notes", "All notes outside the trash", "show_all"),
            ("Show the trash", "Notes you deleted; restore or delete them for good", "show_trash"),
            ("Cycle preview", "Markdown preview: off, side by side, preview only", "cycle_preview"),
            ("Cycle sort order", f"Now by {self.sort}", "cycle_sort"),
            ("Toggle sidebar", "Show or hide notebooks and tags", "toggle_sidebar"),
            ("Help: keys", "Every key binding", "help"),
            ("Today's note", "The journal note for today (ctrl+f10)", "today"),
            ("New from template", "A new note from a note in Templates", "new_from_template"),
        ]
        if note is not None:
            if note.in_trash:
                actions += [
                    ("Restore note", note.title, "restore_note"),
                    ("Delete note for good", note.title, "trash_note"),
                ]
            else:
                actions += [
                    ("Rename note", note.title, "rename_note"),
                    ("Edit tags", note.title, "edit_tags"),
                    ("Move note to notebook", note.title, "move_note"),
                    ("Unpin note" if note.pinned else "Pin note", note.title, "toggle_pin"),
                    ("Move note to trash", note.title, "trash_note"),
                    ("Note history", f"{note.title}: versions, compare, restore (f6)", "history"),
                    ("Open note in $EDITOR", note.title, "external_edit"),
                    ("Attach a file…", f"{note.title} (ctrl+f7)", "attach_file"),
                    ("Backlinks", "Notes that link to this one (ctrl+f12)", "toggle_backlinks"),
                    ("Outline", "This note's headings (ctrl+f11)", "toggle_outline"),
                    ("Follow link", "The [[link]] under the cursor (f12)", "follow_link"),
                ]
        actions += self._sync_and_backup_actions()
        if self.sidebar_data.trash:
            actions.append(
                ("Empty the trash", plural(self.sidebar_data.trash, "note"), "empty_trash")
            )
        if self._sidebar_notebook() is not None:
            actions += [
                ("Rename notebook", "The notebook chosen in the sidebar", "rename_notebook"),
                ("Delete notebook", "Its notes go to the trash", "delete_notebook"),
                ("Move notebook…", "Under another notebook, or to the top level", "move_notebook"),
            ]
        tag = self._sidebar_tag()
        if tag is not None:
            actions += [
                ("Rename tag", f"#{tag}, on every note that carries it", "rename_tag"),
                ("Remove tag", f"#{tag}, from every note (the notes stay)", "remove_tag"),
            ]
        actions.append(
            ("Change password…", "The password that opens this vault", "change_password")
        )
        return [(name, help_, self._action_runner(action)) for name, help_, action in actions]

    def _sync_and_backup_actions(self) -> list[tuple[str, str, str]]:
        session = self.session
        if session is None:
            return []
        app = self.vault_app
        remote = session.remote(app.config_remote)
        actions = [
            (
                "Sync now",
                f"With {display_path(Path(remote))} (f9)" if remote else "No sync folder yet",
                "sync_now",
            ),
            ("Sync status", "Where this vault syncs to, the last run, what waits", "sync_panel"),
            (
                "Set sync folder…" if remote is None else "Change sync folder…",
                "A folder your sync app shares between your machines",
                "set_sync_folder",
            ),
        ]
        note = self.current_note()
        conflicts = len(session.vault.store.conflicted_ids())
        if note is not None and note.conflict:
            actions.append(("Compare versions of this note", note.title, "conflicts"))
        elif conflicts:
            actions.append(("Resolve conflicts", f"{conflicts} waiting (f8)", "conflicts"))
        actions += [
            ("Back up now", "An encrypted backup in the backup folder", "backup_now"),
            ("Backups", "This vault's backups; check that one reads back whole", "backups"),
            ("Export as Markdown…", "Plain .md files, NOT encrypted", "export_markdown"),
            (
                "Import Markdown…",
                "Notes from a folder of .md files (Obsidian, Joplin, …)",
                "import_markdown",
            ),
            (
                "Check the vault",
                "Open every version of every note and attachment; report damage",
                "check_vault",
            ),
        ]
        damaged = len(session.vault.damaged_notes()) if session.vault.corrupt else 0
        if damaged:
            actions.append(
                (
                    "Bring back damaged notes",
                    f"{damaged:,} whose newest version does not open: their newest that does",
                    "bring_back_damaged",
                )
            )
        found = getattr(self, "_findings", None)
        if found is not None and found.session is session:
            about = f"{found.title}, from the last check or import"
            actions.append(("Show the findings", about, "show_findings"))
        return actions

    def _action_runner(self, action: str) -> Callable[[], Any]:
        if action == "lock":
            return self.vault_app.action_lock
        if action == "help":
            return self.vault_app.action_help
        if action == "show_all":
            return _bind(self.go_to_target, ALL)
        if action == "show_trash":
            return _bind(self.go_to_target, TRASH)
        return getattr(self, f"action_{action}")


def _count(n: int) -> str:
    return f"{n:,} note" if n == 1 else f"{n:,} notes"


def _bind(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def run() -> Any:
        return fn(*args)

    return run
