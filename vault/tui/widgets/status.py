"""The status bar: named segments that any part of the app can fill.

The main screen fills "vault" (where the vault is, when it locks), "message" (a long job's
progress) and, from the app's background work, "sync" (docked right). The vault segment gives
way first on a narrow terminal, so the sync segment stays whole at 80 columns. A click on a
segment is reported, so the sync segment opens the sync panel.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static

SEGMENTS = ("vault", "message", "sync")


class Segment(Static):
    def on_click(self, event: events.Click) -> None:
        bar = self.parent
        if isinstance(bar, StatusBar) and self.id:
            bar.post_message(StatusBar.Clicked(self.id.removeprefix("status-")))


class StatusBar(Horizontal):
    @dataclass
    class Clicked(Message):
        key: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._widths: dict[str, int] = {}

    def compose(self):  # type: ignore[no-untyped-def]
        for key in SEGMENTS:
            yield Segment("", id=f"status-{key}", classes="status-segment", markup=True)

    def set_segment(self, key: str, text: str, tooltip: str | None = None) -> None:
        try:
            segment = self.query_one(f"#status-{key}", Static)
        except NoMatches:
            segment = Segment("", id=f"status-{key}", classes="status-segment")
            self.mount(segment)
        # Segments are as wide as their text: the bar needs a layout pass only when the width
        # changes (the word count changes on every note shown, mostly not its width).
        width = Content.from_markup(text).cell_length
        segment.update(text, layout=width != self._widths.get(key))
        self._widths[key] = width
        segment.tooltip = tooltip
        segment.display = bool(text)

    def segment_text(self, key: str) -> str:
        """What a segment shows, as plain text (for tests and the screenshot script)."""
        try:
            return str(self.query_one(f"#status-{key}", Static).render())
        except NoMatches:
            return ""

    def clear(self) -> None:
        self._widths.clear()
        for segment in self.query(".status-segment").results(Static):
            segment.update("")
            segment.tooltip = None
