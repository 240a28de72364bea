"""Completing a `[[link`: typing `[[` in the editor opens this picker of note titles, matched
fuzzily as in the command palette (titles holding the text first, then those with its letters
in order, best scored first within each). Enter inserts the chosen title and `]]`; with
nothing matching, the typed text (a link to a note yet to be written); escape leaves the `[[`
as typed. Typing the closing `]]` puts in exactly what was typed, as a person who types a whole
`[[link]]` without looking at the picker means it (an alias or heading part included).
Titles are note text: shown as plain `Text` through `textsafe.visible`, never markup."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.fuzzy import Matcher
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from vault.notes.links import linkable
from vault.textsafe import visible
from vault.tui.providers import Entry, candidates, entry
from vault.tui.screens.dialogs import Dialog

SHOWN = 8


def ranked(entries: list[Entry], query: str) -> list[str]:
    """Titles for `query`, best first (the palette's candidates, then its fuzzy score)."""
    if not query.strip():
        return [e.label for e in entries[:SHOWN]]
    matcher = Matcher(query)
    wanted = query.casefold().strip()
    scored = [
        (wanted not in e.folded, -matcher.match(e.label), i, e.label)
        for i, e in enumerate(candidates(entries, query))
    ]
    return [s[3] for s in sorted(scored) if s[1] < 0][:SHOWN]


class TitleField(Input):
    GATE_CHARACTERS: ClassVar[str] = "]"  # `]]` closes the picker: later keys go to the note


class LinkPicker(Dialog[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", show=False, priority=True),
        Binding("up", "move(-1)", show=False, priority=True),
    ]

    def __init__(self, titles: list[str], ready: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._ready = ready  # called once the field has the focus (held keys go to it)
        self._entries = [entry(t, "", lambda: None) for t in dict.fromkeys(titles) if linkable(t)]
        self.shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Link to a note", classes="dialog-title")
            yield TitleField(placeholder="Title", id="value")
            yield OptionList(id="link-titles")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._show("")
        if self._ready is not None:
            self.call_after_refresh(self._ready)

    def _show(self, query: str) -> None:
        self.shown = ranked(self._entries, query)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(Text(visible(t))) for t in self.shown])
        if self.shown:
            options.highlighted = 0

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        if event.value.endswith("]]"):
            self.dismiss(event.value[:-2])  # the link was typed whole and closed
            return
        self._show(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if self.shown:
            current = options.highlighted or 0
            options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        highlighted = self.query_one(OptionList).highlighted
        if self.shown and highlighted is not None:
            self.dismiss(self.shown[highlighted])
        else:
            typed = " ".join(event.value.split())
            self.dismiss(typed if typed and linkable(typed) else None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.shown[event.option_index])
