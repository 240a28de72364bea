"""Command palette providers: jump to any note, notebook or tag by a fuzzy title, and run the
actions that make sense where you are.

The palette asks these providers on every keystroke in the event loop, so with 10,000 notes
only a short list of likely candidates (substring matches first, then letters in order, most
recently edited first) is scored by the fuzzy matcher. The candidates are taken when the
palette opens and dropped when it closes, so a locked app keeps no titles here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from vault.tui.safetext import escaped, shown

CANDIDATE_LIMIT = 60


@dataclass(frozen=True)
class Entry:
    label: str
    help: str
    run: Callable[[], object]
    folded: str


def entry(label: str, help: str, run: Callable[[], object]) -> Entry:
    """A palette line for a note, notebook or tag: its label is matched and shown as plain
    text (visible control characters); the palette parses help as markup, so it is escaped."""
    label = shown(label)
    return Entry(label, escaped(help), run, label.casefold())


def highlighted(matcher: Matcher, label: str) -> Content:
    """`label` as text with the matched letters marked. (Matcher.highlight parses the label
    as markup: a title `[/]` would end the palette with an error.)"""
    result = Content(label)
    score, offsets = matcher.fuzzy_search.match(matcher.query, label)
    if score:
        for offset in offsets:
            if not label[offset].isspace():
                result = result.stylize(matcher.match_style, offset, offset + 1)
    return result


def candidates(entries: list[Entry], query: str, limit: int = CANDIDATE_LIMIT) -> list[Entry]:
    """Entries worth scoring: those containing the query, then those with its letters in order."""
    wanted = query.casefold().strip()
    if not wanted:
        return entries[:limit]
    letters = [re.escape(c) for c in wanted if not c.isspace()]
    in_order = re.compile(".*?".join(letters))
    near: list[Entry] = []
    loose: list[Entry] = []
    for item in entries:
        if wanted in item.folded:
            near.append(item)
            if len(near) >= limit:
                break
        elif len(loose) < limit and in_order.search(item.folded):
            loose.append(item)
    return (near + loose)[:limit]


PaletteAction = tuple[str, str, Callable[[], object]]


@runtime_checkable
class PaletteSource(Protocol):
    """A screen the palette offers jumps and actions for: the main screen (PaletteSupport in
    vault/tui/screens/jumps.py). Named by what it offers, so this module imports no screen."""

    def jump_entries(self) -> list[Entry]: ...

    def palette_actions(self) -> list[PaletteAction]: ...


class _ScreenProvider(Provider):
    @property
    def main(self) -> PaletteSource | None:
        return self.screen if isinstance(self.screen, PaletteSource) else None


class JumpProvider(_ScreenProvider):
    """Notes, notebooks and tags by name."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._entries: list[Entry] = []

    async def startup(self) -> None:
        main = self.main
        self._entries = main.jump_entries() if main is not None else []

    async def shutdown(self) -> None:
        self._entries = []

    async def discover(self) -> Hits:
        # Notebooks and tags first, then the most recently edited notes.
        for item in self._entries[:12]:
            yield DiscoveryHit(Content(item.label), item.run, text=item.label, help=item.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for item in candidates(self._entries, query):
            score = matcher.match(item.label)
            if score > 0:
                yield Hit(score, highlighted(matcher, item.label), item.run, item.label, item.help)


class ActionsProvider(_ScreenProvider):
    """The app's actions, offered only where they apply (restore only in the trash, ...)."""

    async def discover(self) -> Hits:
        main = self.main
        for name, help_text, run in main.palette_actions() if main is not None else []:
            # The help of a note's actions is its title: text, not markup.
            yield DiscoveryHit(Content(name), run, text=name, help=escaped(help_text))

    async def search(self, query: str) -> Hits:
        main = self.main
        matcher = self.matcher(query)
        for name, help_text, run in main.palette_actions() if main is not None else []:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, highlighted(matcher, name), partial(run), name, escaped(help_text))
