"""Choosing a template for a new note: a short list of the templates' titles (plain text)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from vault.notes.model import Note
from vault.textsafe import visible
from vault.tui.screens.dialogs import Dialog


class TemplatePicker(Dialog[Note | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, found: list[Note]) -> None:
        super().__init__()
        self._templates = found

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("New note from a template", classes="dialog-title")
            yield OptionList(
                *[Option(Text(visible(t.title))) for t in self._templates], id="templates"
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._templates[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
