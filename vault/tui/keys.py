"""Every key binding of the app in one table: the screens build their BINDINGS from it, the F1
help screen lists it, and the README's table is printed from it (scripts/screenshots.py --keys).

Each binding has an id, so a person can remap it in the config's [keymap] table, for example
`new_note = "ctrl+n,f7"`. TextArea owns ctrl+a/c/d/e/k/u/v/w/x/y/z and f6/f7 (select the
line, select all), so the shortcuts that must also work while typing use other keys and
`priority`: sync is f9 and conflicts f8, not ctrl+y (redo); history takes f6 over the
editor's select-the-line (ctrl+h would be backspace on some terminals).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

ANYWHERE = "Anywhere"
LIST = "Note list"
EDITOR = "Editor"
FIND = "Find bar"
LINKS = "Links"  # work on the open note wherever the focus is
SIDEBAR = "Sidebar"
SEARCH = "Search box"
CONFLICT = "Conflict view"
BACKUPS = "Backups"
HISTORY = "History"
ATTACHMENTS = "Attachments"


@dataclass(frozen=True)
class Key:
    id: str
    keys: str
    action: str
    description: str
    group: str
    show: bool = False  # shown in the footer
    priority: bool = False  # wins over the focused widget (needed inside the editor)
    display: str | None = None
    help: str = ""  # longer text for the help screen; the footer shows `description`

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            id=self.id,
            key_display=self.display,
        )


APP_KEYS = [
    Key("help", "f1", "app.help", "Help", ANYWHERE, show=True, help="This help"),
    Key("quit", "ctrl+q", "app.quit", "Quit", ANYWHERE, show=True, priority=True, help="Quit"),
    # On every screen (the conflict view, backups, dialogs too), whenever the vault is open.
    Key("lock", "ctrl+l", "app.lock", "Lock", ANYWHERE, show=True, priority=True, help="Lock now"),
]

MAIN_KEYS = [
    Key(
        "new_note", "ctrl+n", "new_note", "New", ANYWHERE, show=True, priority=True, help="New note"
    ),
    Key("search", "ctrl+f", "search", "Search", ANYWHERE, priority=True, help="Search"),
    Key("save", "ctrl+s", "save", "Save", ANYWHERE, priority=True, help="Save now (autosave)"),
    Key(
        "preview",
        "ctrl+r",
        "cycle_preview",
        "Preview",
        ANYWHERE,
        show=True,
        priority=True,
        help="Markdown preview: off, side by side, preview only",
    ),
    Key(
        "external_editor",
        "ctrl+o",
        "external_edit",
        "$EDITOR",
        ANYWHERE,
        priority=True,
        help="Edit the note in $EDITOR",
    ),
    Key("tags", "ctrl+t", "edit_tags", "Tags", ANYWHERE, priority=True, help="Edit tags"),
    Key(
        "undo",
        "ctrl+z",
        "undo",
        "Undo",
        ANYWHERE,
        show=True,
        help="Take back the last move to the trash or to a notebook (in the editor: undo typing)",
    ),
    Key("rename", "f2", "rename_note", "Rename", ANYWHERE, help="Rename the note"),
    Key("move", "f4", "move_note", "Move", ANYWHERE, help="Move the note to a notebook"),
    Key("sort", "f5", "cycle_sort", "Sort", ANYWHERE, help="Sort by modified, title, created"),
    Key(
        "history",
        "f6",
        "history",
        "History",
        ANYWHERE,
        priority=True,  # over the editor's f6 (select the line; shift+home/end do it too)
        help="The note's versions: compare one with now, restore it",
    ),
    Key(
        "conflicts",
        "f8",
        "conflicts",
        "Conflicts",
        ANYWHERE,
        help="Compare the versions of a conflicting note and keep mine, theirs or both",
    ),
    Key(
        "sync_now",
        "f9",
        "sync_now",
        "Sync",
        ANYWHERE,
        help="Sync now (the footer's sync status opens the sync panel)",
    ),
    Key(
        "zen",
        "f10",
        "toggle_zen",
        "Zen",
        ANYWHERE,
        priority=True,
        help="The editor takes the whole width (again: back); below 100 columns the list "
        "folds away by itself while you write",
    ),
    Key(
        "follow_link",
        "f12",
        "follow_link",
        "Follow link",
        LINKS,
        help="Follow the [[link]] under the cursor (a missing note: offers to create it)",
    ),
    Key(
        "backlinks",
        "ctrl+f12",
        "toggle_backlinks",
        "Backlinks",
        LINKS,
        help="Show or hide the notes that link to this one (enter jumps there)",
    ),
    Key(
        "outline",
        "ctrl+f11",
        "toggle_outline",
        "Outline",
        LINKS,
        help="Show or hide the note's headings (enter jumps to one)",
    ),
    Key("today", "ctrl+f10", "today", "Today", LINKS, help="Today's note in the journal"),
    Key(
        "attach_file",
        "ctrl+f7",
        "attach_file",
        "Attach",
        ANYWHERE,
        priority=True,
        help="Attach a file to the note (pick it, or type its path)",
    ),
    Key(
        "sidebar",
        "ctrl+b",
        "toggle_sidebar",
        "Sidebar",
        ANYWHERE,
        priority=True,
        help="Show or hide the sidebar",
    ),
]

LIST_KEYS = [
    Key("open", "enter", "screen.open_note", "Open", LIST, help="Edit the highlighted note"),
    Key("pin", "p", "screen.toggle_pin", "Pin", LIST, show=True, help="Pin or unpin"),
    Key(
        "trash",
        "delete,d",
        "screen.trash_note",
        "Trash",
        LIST,
        show=True,
        display="del",
        help="Move to the trash (in the trash: delete for good)",
    ),
    Key("restore", "u", "screen.restore_note", "Restore", LIST, help="Restore from the trash"),
    Key("list_rename", "r", "screen.rename_note", "Rename", LIST, help="Rename"),
    Key("list_tags", "t", "screen.edit_tags", "Tags", LIST, help="Add or remove tags"),
    Key("list_move", "m", "screen.move_note", "Move", LIST, help="Move to a notebook"),
    Key(
        "list_sort", "s", "screen.cycle_sort", "Sort", LIST, help="Sort by modified, title, created"
    ),
    Key("list_attach", "a", "screen.attach_file", "Attach", LIST, help="Attach a file"),
    Key("list_search", "slash", "screen.search", "Search", LIST, display="/", help="Search"),
]

EDITOR_KEYS = [
    Key(
        "leave_editor",
        "escape",
        "screen.leave_editor",
        "List",
        EDITOR,
        show=True,
        priority=True,
        help="Back to the list (the note is saved)",
    ),
    Key("note_start", "ctrl+home", "document_start", "Start", EDITOR, help="Start of the note"),
    Key("note_end", "ctrl+end", "document_end", "End", EDITOR, help="End of the note"),
]

# On the editor pane: they work in the editor, the preview and the find bar.
PANE_KEYS = [
    Key(
        "find_in_note",
        "ctrl+g",
        "find",
        "Find",
        EDITOR,
        show=True,
        help="Find in the note; :42 in the find bar goes to line 42",
    ),
    Key("find_next", "f3", "find_next", "Next", EDITOR, help="Next match"),
    Key("find_previous", "shift+f3", "find_previous", "Previous", EDITOR, help="Previous match"),
]

FIND_KEYS = [
    Key("find_close", "escape", "close_find", "Close", FIND, show=True, help="Close the find bar"),
    Key(
        "find_back",
        "shift+enter",
        "find_previous",
        "Previous",
        FIND,
        help="Previous match (enter: the next)",
    ),
]

SIDEBAR_KEYS = [
    Key("new_notebook", "n", "screen.new_notebook", "New notebook", SIDEBAR, show=True),
    Key(
        "rename_notebook", "r", "screen.rename_notebook", "Rename", SIDEBAR, help="Rename notebook"
    ),
    Key(
        "delete_notebook",
        "delete",
        "screen.delete_notebook",
        "Delete",
        SIDEBAR,
        display="del",
        help="Delete notebook (its notes go to the trash)",
    ),
    Key(
        "move_notebook",
        "m",
        "screen.move_notebook",
        "Move",
        SIDEBAR,
        help="Move notebook under another",
    ),
    # The same keys on a tag: a notebook's binding is not available there, so these answer.
    Key("rename_tag", "r", "screen.rename_tag", "Rename", SIDEBAR, help="Rename tag (every note)"),
    Key(
        "remove_tag",
        "delete",
        "screen.remove_tag",
        "Remove",
        SIDEBAR,
        display="del",
        help="Remove tag from every note (the notes stay)",
    ),
    Key("empty_trash", "e", "screen.empty_trash", "Empty trash", SIDEBAR, help="Empty the trash"),
]

SEARCH_KEYS = [
    Key(
        "clear_search",
        "escape",
        "screen.clear_search",
        "Clear",
        SEARCH,
        show=True,
        priority=True,
        help="Clear the search (pressed again: back to the list)",
    ),
    Key("search_to_list", "down,enter", "screen.focus_list", "To list", SEARCH, help="To the list"),
]

CONFLICT_KEYS = [
    Key("keep_mine", "m", "keep('mine')", "Keep mine", CONFLICT, show=True),
    Key("keep_theirs", "t", "keep('theirs')", "Keep theirs", CONFLICT, show=True),
    Key(
        "keep_both",
        "b",
        "keep('both')",
        "Keep both",
        CONFLICT,
        show=True,
        help="Keep both (theirs becomes a separate note)",
    ),
    Key(
        "next_version",
        "n",
        "next_version",
        "Next version",
        CONFLICT,
        help="Show the next other version (when three devices disagree)",
    ),
    Key("conflict_back", "escape", "back", "Back", CONFLICT, show=True, help="Back; decide later"),
]

BACKUP_KEYS = [
    Key(
        "verify_backup",
        "v",
        "verify",
        "Verify",
        BACKUPS,
        show=True,
        help="Check the chosen backup reads back whole and every note opens (also enter)",
    ),
    Key("backup_now", "n", "backup_now", "Back up now", BACKUPS, show=True),
    Key("backups_close", "escape", "close", "Close", BACKUPS, show=True),
]

HISTORY_KEYS = [
    Key(
        "restore_version",
        "r",
        "restore_version",
        "Restore",
        HISTORY,
        show=True,
        help="Save the chosen version's title and text as the newest version (also enter)",
    ),
    Key("history_back", "escape", "back", "Back", HISTORY, show=True),
]

# On the list of the open note's attachments, under the editor.
ATTACHMENT_KEYS = [
    Key(
        "open_attachment",
        "o",
        "screen.open_attachment",
        "Open",
        ATTACHMENTS,
        show=True,
        help="Open with the system viewer (a private copy, wiped afterwards)",
    ),
    Key("save_attachment", "s", "screen.save_attachment", "Save as", ATTACHMENTS, show=True),
    Key(
        "remove_attachment",
        "delete",
        "screen.remove_attachment",
        "Remove",
        ATTACHMENTS,
        show=True,
        display="del",
        help="Remove the attachment from the note",
    ),
    Key("attach_more", "a", "screen.attach_file", "Attach", ATTACHMENTS, help="Attach a file"),
]

ALL_KEYS = (
    APP_KEYS
    + MAIN_KEYS
    + LIST_KEYS
    + EDITOR_KEYS
    + PANE_KEYS
    + FIND_KEYS
    + SIDEBAR_KEYS
    + SEARCH_KEYS
    + CONFLICT_KEYS
    + BACKUP_KEYS
    + HISTORY_KEYS
    + ATTACHMENT_KEYS
)
GROUPS = (
    ANYWHERE,
    LIST,
    EDITOR,
    FIND,
    LINKS,
    ATTACHMENTS,
    SIDEBAR,
    SEARCH,
    CONFLICT,
    BACKUPS,
    HISTORY,
)

# Not bindings of ours, but worth listing where people look for keys.
EXTRA_HELP = [
    (
        "ctrl+p",
        "Command palette: jump to a note, notebook or tag; every action (sync folder, "
        "back up now, backups, export and import Markdown, check the vault, change password)",
        ANYWHERE,
    ),
    ("tab / shift+tab", "Move between the sidebar, search, list and editor", ANYWHERE),
    ("enter", "Show the notes of a notebook, tag, pinned or trash", SIDEBAR),
    ("ctrl+z / ctrl+y", "Undo / redo", EDITOR),
    ("tab", "Indent", EDITOR),
    (
        "enter",
        "After a list item (-, *, 1., - [ ]) starts the next; on an empty one ends the list",
        EDITOR,
    ),
    ("[[", "Link to a note: pick its title as you type (fuzzy); enter inserts it", LINKS),
    ("enter", "Show an image in the app; open any other file with the system viewer", ATTACHMENTS),
]


def bindings(keys: list[Key]) -> list[Binding]:
    return [k.binding() for k in keys]


def pretty(keys: str) -> str:
    """'delete,d' -> 'del / d' for people."""
    names = {"delete": "del", "slash": "/", "escape": "esc", "enter": "enter"}
    return " / ".join(names.get(k, k) for k in keys.split(","))


def help_rows() -> list[tuple[str, str, str]]:
    """(group, keys, what it does), grouped in GROUPS order. Anywhere, the palette and tab
    come first: the keys that lead to every other one stay on the help's first screen."""
    rows = [(k.group, pretty(k.keys), k.help or k.description) for k in ALL_KEYS]
    extra = [(group, keys, text) for keys, text, group in EXTRA_HELP]
    rows = [r for r in extra if r[0] == ANYWHERE] + rows + [r for r in extra if r[0] != ANYWHERE]
    order = {g: i for i, g in enumerate(GROUPS)}
    return sorted(rows, key=lambda r: order[r[0]])


def markdown_table() -> str:
    lines = ["| Where | Keys | Action |", "|---|---|---|"]
    lines += [f"| {group} | `{keys}` | {text} |" for group, keys, text in help_rows()]
    return "\n".join(lines)
