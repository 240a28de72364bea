"""A side panel for the open note: the notes that link to it (backlinks) or its outline.

Every line shown is note text, so it is built as plain `rich.text.Text` (never markup) from
`textsafe.visible`. Choosing a row (enter or a click) posts `LinkPanel.Chosen`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rich.text import Text
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from vault.notes.links import Backlink
from vault.notes.outline import Heading
from vault.textsafe import visible

PanelKind = Literal["backlinks", "outline"]


@dataclass(frozen=True)
class Place:
    note_id: str | None  # None: the open note (an outline row)
    line: int  # 0-based


class LinkPanel(Vertical):
    DEFAULT_CSS = """
    LinkPanel {
        dock: right;
        width: 36;
        border: round $primary-muted;
        border-title-color: $text;
    }
    LinkPanel > OptionList { height: 1fr; border: none; }
    """

    @dataclass
    class Chosen(Message):
        kind: PanelKind
        place: Place

    class Ready(Message):
        """Mounted: time to fill it."""

    def __init__(self, kind: PanelKind) -> None:
        super().__init__(id="link-panel")
        self.kind: PanelKind = kind
        self.places: list[Place] = []
        self.border_title = "Backlinks" if kind == "backlinks" else "Outline"

    def compose(self):  # type: ignore[no-untyped-def]
        yield OptionList(id="link-options")

    def on_mount(self) -> None:
        self.post_message(LinkPanel.Ready())

    @property
    def options(self) -> OptionList:
        return self.query_one(OptionList)

    def _fill(self, rows: list[tuple[Text, Place]], empty: str) -> None:
        self.places = [place for _, place in rows]
        self.options.clear_options()
        if rows:
            self.options.add_options([Option(text) for text, _ in rows])
            self.options.highlighted = 0
        else:
            self.options.add_option(Option(Text(empty, style="dim"), disabled=True))

    def show_backlinks(self, found: list[Backlink]) -> None:
        rows = []
        for b in found:
            text = Text(visible(b.source.title), style="bold")
            text.append(f":{b.link.line + 1}", style="dim")
            text.append("\n" + visible(b.line_text.strip()))
            rows.append((text, Place(b.source.id, b.link.line)))
        self.border_subtitle = f"{len(found)}"
        self._fill(rows, "No note links here.")

    def show_outline(self, headings: list[Heading]) -> None:
        rows = [
            (Text("  " * (h.level - 1) + (visible(h.text) or "#" * h.level)), Place(None, h.line))
            for h in headings
        ]
        self.border_subtitle = f"{len(headings)}"
        self._fill(rows, "No headings.")

    def clear_rows(self) -> None:
        self.border_subtitle = ""
        self._fill([], "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.places):
            self.post_message(LinkPanel.Chosen(self.kind, self.places[event.option_index]))
