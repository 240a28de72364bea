"""Conflicts: the notes (and notebooks) edited on two devices in ways that did not merge on
their own, and, for one of them, both versions side by side with what differs marked.

Keep mine, keep theirs or keep both (notes only: theirs becomes a separate note) goes through
`vault.sync.resolve`, which writes one new version naming every competing version as a parent,
so the decision travels to the other devices, and the version not kept stays in the history.
Everything decrypted here is dropped when the screen closes (and so when the vault locks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich import box
from rich.console import RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, OptionList, Static
from textual.widgets.option_list import Option

from vault.notes.model import Item, Note, Notebook
from vault.sealing.envelope import short
from vault.sync import BOTH, MINE, THEIRS, Conflict, ConflictVersion, get_conflict, list_conflicts
from vault.tui.diff import Row, count_differences, side_by_side
from vault.tui.failures import ReportsWorkerErrors
from vault.tui.keys import CONFLICT_KEYS, bindings
from vault.tui.safetext import shown, shown_body
from vault.tui.session import Session
from vault.tui.timefmt import Clock, relative_time, to_local
from vault.wording import plural

NotebookPath = Callable[[str | None], str]


@dataclass
class ConflictLoaded(Message):
    conflict: Conflict | None


@dataclass
class ConflictsLoaded(Message):
    conflicts: list[Conflict]


@dataclass
class Resolved(Message):
    text: str


# --- describing a version ------------------------------------------------------------------


def device_label(version: ConflictVersion, me: str) -> str:
    return "this device" if version.device == me else f"device {short(version.device)}"


def fields_of(item: Item | None, notebook_path: NotebookPath) -> list[tuple[str, str]]:
    """The details of a version worth comparing, as (name, value)."""
    if isinstance(item, Note):
        return [
            ("title", item.title),
            ("notebook", notebook_path(item.notebook) or "(top level)"),
            ("tags", " ".join(f"#{t}" for t in item.tags) or "(none)"),
            ("pinned", "yes" if item.pinned else "no"),
            ("in trash", "yes" if item.in_trash else "no"),
        ]
    if isinstance(item, Notebook):
        return [
            ("name", item.name),
            ("inside", notebook_path(item.parent) or "(top level)"),
        ]
    return []


def body_of(version: ConflictVersion) -> str | None:
    """The text to compare; None for a version that is a deletion or does not open."""
    item = version.item
    if isinstance(item, Note):
        return item.body
    return None


def edited_at(ms: int, now: datetime) -> str:
    """'today 15:38', '21 Nov 09:12', '3 Mar 2025 09:12': precise enough to tell two
    versions apart, short enough for half of an 80-column screen."""
    when = to_local(ms, now)
    if when is None:
        return "at no time a calendar shows"
    if when.date() == now.date():
        return f"today {when:%H:%M}"
    if when.year == now.year:
        return f"{when.day} {when:%b %H:%M}"
    return f"{when.day} {when:%b %Y %H:%M}"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_FLAGS = {"pinned": "pinned", "in trash": "in the trash"}


def agreed(names: list[str]) -> str:
    """The details both versions share, said so that a flag reads as a question, not as a
    state: 'Both versions agree on the title, the tags and whether it is pinned or in the
    trash.' (not 'Same ... pinned and in trash', which read as if the note were in the trash)."""
    parts = [f"the {n}" for n in names if n not in _FLAGS]
    flags = [_FLAGS[n] for n in names if n in _FLAGS]
    if flags:
        parts.append(f"whether it is {' or '.join(flags)}")
    return f"Both versions agree on {_join(parts)}." if parts else ""


# --- the side-by-side view -----------------------------------------------------------------


class DiffView(Widget):
    """Two versions in aligned columns. Rows are rendered by a Rich table, so a long line that
    wraps on one side keeps the other side level with it."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "diff--differs",
        "diff--gap",
        "diff--head",
        "diff--label",
        "diff--rule",
    }
    DEFAULT_CSS = """
    DiffView { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.heads: tuple[str, str] = ("", "")
        self.fields: list[tuple[str, str, str]] = []  # (name, left, right)
        self.rows: list[Row] = []
        self.note = ""  # said under the details (a deletion, a version that did not open)

    def show(
        self,
        heads: tuple[str, str],
        fields: list[tuple[str, str, str]],
        rows: list[Row],
        note: str = "",
    ) -> None:
        self.heads, self.fields, self.rows, self.note = heads, fields, rows, note
        self.refresh(layout=True)

    def clear(self) -> None:
        self.show(("", ""), [], [])

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=False)

    def render(self) -> RenderableType:
        if not self.rows and not self.fields:
            return Text("")
        differs, gap = self._style("diff--differs"), self._style("diff--gap")
        label, rule = self._style("diff--label"), self._style("diff--rule")
        head = self._style("diff--head")
        headers = []
        for side, title in enumerate(self.heads):
            cell = Text()
            cell.append(title, style=head)  # only the title: a base style would cover all
            for name, *values in self.fields:
                value = values[side]
                cell.append_text(Text.assemble("\n", (f"{name}: ", label), (shown(value), differs)))
            if self.note:
                cell.append_text(Text("\n" + self.note, style=label))
            headers.append(cell)
        # MINIMAL: one line between the columns and one under the details, nothing else.
        table = Table(
            box=box.MINIMAL,
            expand=True,
            show_edge=False,
            padding=(0, 1),
            border_style=rule,
            header_style=Style(),
        )
        for header in headers:
            table.add_column(header, ratio=1, overflow="fold")
        for row in self.rows:
            table.add_row(
                self._cell(row.left, row.differs, differs, gap),
                self._cell(row.right, row.differs, differs, gap),
            )
        return table

    @staticmethod
    def _cell(line: str | None, differs: bool, style: Style, gap: Style) -> Text:
        if line is None:
            return Text(" ", style=gap)
        return Text(shown_body(line) or " ", style=style if differs else Style())


# --- one conflict --------------------------------------------------------------------------


class ConflictScreen(ReportsWorkerErrors, Screen[str | None]):
    """Both versions of one item; dismissed with what was done, or None (back)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(CONFLICT_KEYS)

    def __init__(
        self, session: Session, item_id: str, *, clock: Clock, notebook_path: NotebookPath
    ) -> None:
        super().__init__()
        self.session = session
        self.item_id = item_id
        self.clock = clock
        self.notebook_path = notebook_path
        self.conflict: Conflict | None = None
        self.other = 0  # which of the other versions is shown (more than two devices)
        self._busy = False
        self._diff = DiffView(id="diff")  # kept here: on unmount its parent is gone already

    def compose(self) -> ComposeResult:
        yield Static("Conflict", id="conflict-title", markup=False)
        yield Static(
            "Loading both versions…", id="conflict-help", classes="conflict-help", markup=False
        )
        with VerticalScroll(id="conflict-scroll"):
            yield self._diff
        with Horizontal(classes="buttons", id="conflict-buttons"):
            yield Button("Back", id="back")
            yield Button("Keep both", id="both")
            yield Button("Keep theirs", id="theirs")
            yield Button("Keep mine", id="mine", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        for button in self.query(Button):
            button.disabled = button.id != "back"
        self.load()

    def on_unmount(self) -> None:
        # Nothing decrypted outlives the screen (closed, or taken away by locking).
        self.conflict = None
        diff = self._diff
        diff.heads, diff.fields, diff.rows, diff.note = ("", ""), [], [], ""

    @work(thread=True, exclusive=True, group="conflict", exit_on_error=False)
    def load(self) -> None:
        self.post_message(ConflictLoaded(get_conflict(self.session.vault, self.item_id)))

    def on_conflict_loaded(self, message: ConflictLoaded) -> None:
        self.conflict = message.conflict
        if message.conflict is None:
            self.dismiss("This conflict was already settled (another device, or a sync).")
            return
        self._show()

    def _show(self) -> None:
        conflict = self.conflict
        if conflict is None:
            return
        me = self.session.vault.store.device_id
        mine = conflict.mine
        theirs = conflict.theirs[self.other % len(conflict.theirs)]
        now = self.clock()

        def head(which: str, version: ConflictVersion) -> str:
            where = device_label(version, me)
            if which == "Mine" and version.device != me:
                where += " (shown now)"
            modified = getattr(version.item, "modified", 0)
            when = f" · edited {edited_at(modified, now)}" if modified else ""
            if version.deleted:
                when = " · deleted there"
            return f"{which} · {where}{when}"

        left_fields = dict(fields_of(mine.item, self.notebook_path))
        right_fields = dict(fields_of(theirs.item, self.notebook_path))
        names = list(dict.fromkeys([*left_fields, *right_fields]))
        # Only the details that differ; the rest is said in one line.
        fields = [
            (n, left_fields.get(n, "—"), right_fields.get(n, "—"))
            for n in names
            if left_fields.get(n) != right_fields.get(n)
        ]
        same = [n for n in names if left_fields.get(n) == right_fields.get(n)]
        left_body, right_body = body_of(mine), body_of(theirs)
        note = agreed(same) if same and mine.item and theirs.item else ""
        if left_body is None or right_body is None:
            gone = "mine" if left_body is None else "theirs"
            note = (
                f"({gone} is a deletion)"
                if (mine if gone == "mine" else theirs).deleted
                else f"({gone} does not open: `vault check` says more)"
            )
        rows = side_by_side(left_body or "", right_body or "")
        title = conflict.title
        kind = conflict.kind
        others = len(conflict.theirs)
        of = f" ({self.other % others + 1} of {others}: n shows the next)" if others > 1 else ""
        self.query_one("#conflict-title", Static).update(f"Conflict · {kind} · {shown(title)}{of}")
        places = count_differences(rows)
        differs = ""
        if places:
            differs = f"The text differs in {places} place{'s' if places != 1 else ''}. "
        both = (
            "Keep both makes theirs a separate note. "
            if kind == "note"
            else "A notebook keeps one version. "
        )
        self.query_one("#conflict-help", Static).update(
            f"Edited on two devices in ways that do not merge on their own. {differs}"
            f"Keep mine or theirs: the other stays in the history. {both}"
        )
        self._diff.show((head("Mine", mine), head("Theirs", theirs)), fields, rows, note)
        for button in self.query(Button):
            button.disabled = False
        self.query_one("#both", Button).disabled = kind != "note"
        self.query_one("#mine", Button).focus()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "keep":
            if self.conflict is None or self._busy:
                return False
            if parameters and parameters[0] == BOTH and self.conflict.kind != "note":
                return False
        if action == "next_version":
            return self.conflict is not None and len(self.conflict.theirs) > 1
        return True

    def action_next_version(self) -> None:
        self.other += 1
        self._show()

    def action_back(self) -> None:
        self.dismiss(None)

    def action_keep(self, choice: str) -> None:
        conflict = self.conflict
        if conflict is None or self._busy:
            return
        version = None
        if choice == THEIRS:
            version = conflict.theirs[self.other % len(conflict.theirs)].version
        self._busy = True
        for button in self.query(Button):
            button.disabled = True
        self.resolve(choice, version, conflict.title)

    @work(thread=True, exclusive=True, group="resolve", exit_on_error=False)
    def resolve(self, choice: str, version: str | None, title: str) -> None:
        self.session.resolve(self.item_id, choice, version)
        text = {
            MINE: f"Kept your version of “{title}”; the other stays in its history.",
            THEIRS: f"Kept the other version of “{title}”; yours stays in its history.",
            BOTH: f"Kept both: the other version is now “{title} (conflicted copy)”.",
        }[choice]
        self.post_message(Resolved(text))

    def on_resolved(self, message: Resolved) -> None:
        self.dismiss(message.text)

    def on_work_failed(self, message) -> None:  # type: ignore[no-untyped-def]
        self._busy = False
        if self.conflict is not None:
            self._show()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "back":
            self.action_back()
        elif event.button.id in (MINE, THEIRS, BOTH):
            self.action_keep(event.button.id)


# --- every conflict ------------------------------------------------------------------------


class ConflictListScreen(ReportsWorkerErrors, Screen[None]):
    """The items waiting for a person; enter compares the versions of one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", show=True),
    ]

    def __init__(self, session: Session, *, clock: Clock, notebook_path: NotebookPath) -> None:
        super().__init__()
        self.session = session
        self.clock = clock
        self.notebook_path = notebook_path
        self.on_change: Callable[[str], None] | None = None
        self._list = OptionList(id="conflict-list")  # kept: cleared on unmount

    def compose(self) -> ComposeResult:
        yield Static("Conflicts", id="conflict-title")
        yield Static(
            "Notes edited on two devices in ways that did not merge on their own. Both versions "
            "are kept until you choose; enter compares them.",
            classes="conflict-help",
            markup=False,
        )
        yield self._list
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def on_unmount(self) -> None:
        self._list.clear_options()  # titles

    @work(thread=True, exclusive=True, group="conflicts", exit_on_error=False)
    def load(self) -> None:
        self.post_message(ConflictsLoaded(list_conflicts(self.session.vault)))

    def on_conflicts_loaded(self, message: ConflictsLoaded) -> None:
        options = self._list
        options.clear_options()
        if not message.conflicts:
            self.dismiss(None)
            self.notify("No conflicts left.", timeout=3)
            return
        now = self.clock()
        for conflict in message.conflicts:
            modified = max((getattr(v.item, "modified", 0) for v in conflict.versions), default=0)
            label = Text.assemble(
                ("! ", "bold"),
                (shown(conflict.title), "bold"),
                f"  {conflict.kind} · {plural(len(conflict.versions), 'version')}",
                f" · edited {relative_time(modified, now)}" if modified else "",
            )
            options.add_option(Option(label, id=conflict.item_id))
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected, "#conflict-list")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        item_id = event.option.id
        if item_id is None:
            return

        def done(text: str | None) -> None:
            if text:
                self.notify(text, timeout=5)
                if self.on_change is not None:
                    self.on_change(text)
            self.load()

        self.app.push_screen(
            ConflictScreen(
                self.session, item_id, clock=self.clock, notebook_path=self.notebook_path
            ),
            done,
        )

    def action_back(self) -> None:
        self.dismiss(None)
