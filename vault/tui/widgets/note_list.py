"""The note list: two lines per note (title and age; tags and a snippet), drawn on demand.

Only the rows on screen are ever rendered, so a list of 10,000 notes costs the same to show
and to filter as a list of 20. Matches of the search are highlighted in titles and snippets.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from contextlib import suppress
from itertools import repeat
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.dom import NoScreen
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from vault.notes.model import Note, has_body, snippet
from vault.notes.search import Query, highlight_spans, match_snippet
from vault.tui.keys import LIST_KEYS, bindings
from vault.tui.messages import NoteHighlighted, NoteOpened
from vault.tui.safetext import text as plain_text
from vault.tui.timefmt import Clock, relative_time

ROW_HEIGHT = 2
_CACHE_LIMIT = 400  # strips; a few screens' worth


class NoteList(ScrollView, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "note-list--title",
        "note-list--age",
        "note-list--snippet",
        "note-list--tags",
        "note-list--cursor",
        "note-list--cursor-blurred",
        "note-list--match",
        "note-list--pin",
        "note-list--conflict",
        "note-list--empty",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        *bindings(LIST_KEYS),
    ]

    def __init__(self, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._notes: list[Note] = []
        self._query = Query()
        self._cursor = 0
        self._empty_text = ""
        self._cache: dict[tuple[int, int, int, bool, bool], Strip] = {}
        self._styles: dict[str, Style] = {}
        self._announced: tuple[str, str] | None = None  # (id, version) last posted
        # The body of a note the list holds without it (the app's vault keeps the notes
        # without their bodies), for the rows on screen only (set by the screen): None while
        # it is not at hand (the row shows no snippet; `bodies_arrived` draws it again).
        self.read_body: Callable[[Note], str | None] | None = None

    # --- what it shows (set by the screen) ---------------------------------------------------

    @property
    def notes(self) -> list[Note]:
        return self._notes

    @property
    def shown_query(self) -> Query:
        """The search the shown notes answer (named so as not to hide Widget.query)."""
        return self._query

    @property
    def cursor(self) -> int:
        """The index of the row under the cursor."""
        return self._cursor

    @property
    def highlighted(self) -> Note | None:
        if 0 <= self._cursor < len(self._notes):
            return self._notes[self._cursor]
        return None

    def set_notes(
        self,
        notes: list[Note],
        query: Query,
        *,
        keep: str | None = None,
        empty_text: str = "",
        same_listing: bool = False,
    ) -> None:
        """Show `notes`; the cursor stays on note `keep` (or the same note) when it is there.

        `same_listing`: `notes` come from the listing the shown ones came from (a search
        typed further), so the note under the cursor, if still there, is the very same
        object: found by identity alone (a lookup by id reads every note)."""
        shown = self.highlighted
        keep = keep or (shown.id if shown else None)
        self._notes = notes
        self._query = query
        self._empty_text = empty_text
        self._cache.clear()
        same = shown if shown is not None and shown.id == keep else None
        index = None
        if keep:
            index = position_of(notes, keep, same, by_id=not (same_listing and same))
        if index is None:
            index = min(self._cursor, len(notes) - 1) if notes else 0
        self._cursor = max(index, 0)
        self._set_virtual_height(len(notes) * ROW_HEIGHT)
        self._scroll_cursor_visible()
        self.refresh()
        self._announce()

    def _set_virtual_height(self, height: int) -> None:
        """Resize the scrollable area without a layout pass of the whole screen.

        `virtual_size` is a layout-refreshing reactive: assigning it re-lays out every widget on
        the screen (about 20 ms here), on every keystroke while searching. The list has no
        children, so only its scrollbars need to follow; if one appears or disappears, the
        scrollbar's own reactive still asks for the layout that then is needed."""
        size = Size(self.size.width, height)
        if size != self.virtual_size:
            self.set_reactive(NoteList.virtual_size, size)
            self._scroll_update(size)

    def clear(self) -> None:
        """Drop every note (locking)."""
        self._notes = []
        self._query = Query()
        self._cache.clear()
        self._announced = None
        self._cursor = 0
        self.virtual_size = Size(self.size.width, 0)
        self.refresh()

    def bodies_arrived(self) -> None:
        """The bodies of rows drawn without them were read: draw the rows again."""
        self._cache.clear()
        self.refresh()

    def select(self, note_id: str) -> bool:
        index = position_of(self._notes, note_id)
        if index is None:
            return False
        self._move(index)
        return True

    # --- moving ------------------------------------------------------------------------------

    def _move(self, index: int) -> None:
        if not self._notes:
            return
        index = max(0, min(index, len(self._notes) - 1))
        if index != self._cursor:
            # Only the two rows the cursor leaves and reaches change (the cache keys on
            # whether a row is selected); the others stay cached and are not repainted.
            self._refresh_row(self._cursor)
            self._cursor = index
            self._refresh_row(index)
        self._scroll_cursor_visible()
        self._announce()

    def _announce(self) -> None:
        note = self.highlighted
        key = (note.id, note.version) if note else None
        if key != self._announced:
            self._announced = key
            # Straight to the screen, which shows the note, rather than bubbling up through
            # the containers in between: a hop each, and meanwhile the screen went idle and
            # painted a frame holding only the moved cursor. Textual paces frames so that the
            # next one came one to two frame periods (17-33 ms) later; now the cursor row and
            # the note reach the terminal in the same frame.
            try:
                screen = self.screen
            except NoScreen:  # not on a screen (yet): the message bubbles as any other
                self.post_message(NoteHighlighted(note))
            else:
                screen.post_message(NoteHighlighted(note))

    def _refresh_row(self, index: int) -> None:
        top = index * ROW_HEIGHT - int(self.scroll_offset.y)
        self.refresh(Region(0, top, max(self.size.width, 1), ROW_HEIGHT))

    def _scroll_cursor_visible(self) -> None:
        if self._notes:
            region = Region(0, self._cursor * ROW_HEIGHT, max(self.size.width, 1), ROW_HEIGHT)
            self.scroll_to_region(region, animate=False, force=True, x_axis=False)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height // ROW_HEIGHT)

    def action_cursor_up(self) -> None:
        self._move(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self._cursor + 1)

    def action_page_up(self) -> None:
        self._move(self._cursor - self._page())

    def action_page_down(self) -> None:
        self._move(self._cursor + self._page())

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self._notes) - 1)

    def on_click(self, event: events.Click) -> None:
        index = (event.y + int(self.scroll_offset.y)) // ROW_HEIGHT
        if 0 <= index < len(self._notes):
            self._move(index)
            if event.chain >= 2:
                self.post_message(NoteOpened(self._notes[index]))

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(event.size.width, len(self._notes) * ROW_HEIGHT)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._styles.clear()

    # --- drawing ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_y = int(self.scroll_offset.y)
        line = scroll_y + y
        width = self.scrollable_content_region.width
        base = self._style("base")
        if not self._notes:
            if y == 1 and self._empty_text:
                text = Text("  " + self._empty_text, style=self._style("note-list--empty"))
                text.truncate(width, overflow="ellipsis", pad=True)
                return Strip(text.render(self.app.console)).crop_extend(0, width, base)
            return Strip.blank(width, base)
        index, part = divmod(line, ROW_HEIGHT)
        if index >= len(self._notes):
            return Strip.blank(width, base)
        selected = index == self._cursor
        key = (index, part, width, selected, self.has_focus)
        strip = self._cache.get(key)
        if strip is None:
            note = self._notes[index]
            text = self._title_line(note, width) if part == 0 else self._detail_line(note, width)
            strip = Strip(text.render(self.app.console)).crop_extend(0, width, base)
            strip = strip.apply_style(base)
            if selected:
                strip = self._cursor_strip(strip)
            if len(self._cache) > _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = strip
        return strip.apply_offsets(0, line)

    def _style(self, name: str) -> Style:
        """A component style with its translucent colours blended over this widget's
        background (a partial style alone would blend them over black, which a light theme
        cannot afford). Worked out once per theme: rendering asks for them on every line."""
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                part = self.get_component_rich_style(name, partial=True)
                full = self.get_component_rich_style(name, partial=False)
                style = part + Style(
                    color=full.color if part.color else None,
                    bgcolor=full.bgcolor if part.bgcolor else None,
                )
            self._styles[name] = style
        return style

    def _cursor_strip(self, strip: Strip) -> Strip:
        """The focused cursor row takes the theme's cursor colours over everything, keeping
        bold and underline (so matches still show); unfocused, only a background tint."""
        if self.has_focus:
            cursor = self._style("note-list--cursor")
            over = Style(color=cursor.color, bgcolor=cursor.bgcolor)
        else:
            over = Style(bgcolor=self._style("note-list--cursor-blurred").bgcolor)
        return Strip(Segment.apply_style(strip, post_style=over), strip.cell_length)

    def _highlight(self, text: Text) -> None:
        if self._query.empty:
            return
        match = self._style("note-list--match")
        for start, end in highlight_spans(text.plain, self._query):
            text.stylize(match, start, end)

    def _title_line(self, note: Note, width: int) -> Text:
        age = relative_time(note.modified, self._clock())
        if note.conflict:
            mark = Text("! ", style=self._style("note-list--conflict"))
        elif note.pinned:
            mark = Text("★ ", style=self._style("note-list--pin"))
        else:
            mark = Text("  ")
        title = plain_text(note.title, self._style("note-list--title"))
        self._highlight(title)
        room = max(width - 2 - len(age) - 2, 1)
        title.truncate(room, overflow="ellipsis", pad=True)
        line = Text(" ")
        line.append_text(mark)
        line.append_text(title)
        line.append(" ")
        line.append(age, style=self._style("note-list--age"))
        return line

    def _detail_line(self, note: Note, width: int) -> Text:
        line = Text("   ")
        room = max(width - 4, 1)
        if note.tags:
            tags = " ".join(f"#{t}" for t in note.tags) + "  "
            line.append_text(plain_text(tags, self._style("note-list--tags")))
        body = note.body
        if not has_body(note) and self.read_body is not None:
            body = self.read_body(note) or ""
        if self._query.empty:
            line_ = preview_line(note, room, body)
            snippet_ = plain_text(line_, self._style("note-list--snippet"))
        else:
            found = match_snippet(body, self._query, room)
            snippet_ = plain_text(found, self._style("note-list--snippet"))
            self._highlight(snippet_)
        line.append_text(snippet_)
        line.truncate(width - 1, overflow="ellipsis", pad=True)
        return line


_ID = operator.attrgetter("id")


def position_of(
    notes: list[Note], note_id: str, same: Note | None = None, *, by_id: bool = True
) -> int | None:
    """Where note `note_id` is in `notes` (None if it is not), by C-level passes, on every
    keystroke of a search. `same`, a note object the list may hold (a search's answer holds
    the very objects of the list it filtered), is looked for first, by identity: that pass
    reads only the list itself. By id, each note is read, scattered in memory: at 100,000
    notes tens of milliseconds in the app; `by_id=False` skips it (`same` is the only object
    of that note the list can hold)."""
    if same is not None:
        with suppress(ValueError):
            return operator.indexOf(map(operator.is_, notes, repeat(same)), True)
        if not by_id:
            return None
    with suppress(ValueError):
        return operator.indexOf(map(_ID, notes), note_id)
    return None


def preview_line(note: Note, width: int, body: str | None = None) -> str:
    """The snippet, skipping a first heading that only repeats the title (of `body`, the
    note's body when it is held without it)."""
    if body is None:
        body = note.body
    first = snippet(body, width)
    if first.casefold() != note.title.casefold():
        return first
    rest = body.split("\n", 1)[1] if "\n" in body else ""
    return snippet(rest, width)
