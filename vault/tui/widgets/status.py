"""The status bar: named segments that any part of the app can fill by posting StatusUpdate.

The main screen fills "vault" and "view"; sync will add "sync" the same way, without the
screen's layout changing.
"""

from __future__ import annotations

from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.widgets import Static

SEGMENTS = ("vault", "view", "message", "sync")


class StatusBar(Horizontal):
    def compose(self):  # type: ignore[no-untyped-def]
        for key in SEGMENTS:
            yield Static("", id=f"status-{key}", classes="status-segment", markup=True)

    def set_segment(self, key: str, text: str) -> None:
        try:
            segment = self.query_one(f"#status-{key}", Static)
        except NoMatches:
            segment = Static("", id=f"status-{key}", classes="status-segment")
            self.mount(segment)
        segment.update(text)
        segment.display = bool(text)

    def clear(self) -> None:
        for segment in self.query(".status-segment").results(Static):
            segment.update("")
