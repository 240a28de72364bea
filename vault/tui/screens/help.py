"""F1: every key, grouped by where it works, from the one table in keys.py."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from vault.tui.keys import GROUPS, help_rows

INTRO = (
    "Keyboard first, mouse welcome. ctrl+p finds any note, notebook, tag or action. "
    "Notes save themselves a second after you stop typing, and when you leave them."
)


def keys_table() -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("keys", style="bold", no_wrap=True, min_width=14)
    table.add_column("action", ratio=1)
    rows = help_rows()
    for group in GROUPS:
        table.add_row(f"[reverse] {group} [/]", "")
        for row_group, keys, text in rows:
            if row_group == group:
                table.add_row(Text(keys), Text(text))  # plain: "[[link]]" is not markup
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="card", id="help-card"):
            yield Static("Keys", classes="dialog-title")
            yield Static(INTRO, classes="dialog-text", markup=False)
            with VerticalScroll(id="help-keys"):
                yield Static(keys_table())
            yield Static("escape closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#help-keys").focus()

    def action_close(self) -> None:
        self.dismiss(None)
