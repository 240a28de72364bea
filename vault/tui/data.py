"""What the main screen shows, computed from the domain API in worker threads.

Plain Python (no widgets), so the same code feeds the screen, the tests and the benchmark.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from vault.notes.counts import notes_per_notebook
from vault.notes.filing import notebook_path_in
from vault.notes.links import link_index
from vault.notes.model import Note, TagCount
from vault.notes.search import Query
from vault.notes.vault import Vault

TargetKind = Literal["all", "pinned", "notebook", "tag", "trash"]
SORTS = ("modified", "title", "created")


@dataclass(frozen=True)
class Target:
    """Which notes the list shows: everything, the pinned ones, a notebook, a tag or the trash."""

    kind: TargetKind = "all"
    ref: str | None = None  # notebook id, or tag name

    @property
    def is_trash(self) -> bool:
        return self.kind == "trash"


ALL = Target("all")
PINNED = Target("pinned")
TRASH = Target("trash")


@dataclass(frozen=True)
class NotebookEntry:
    id: str
    name: str
    parent: str | None
    path: str
    notes: int  # outside the trash, sub-notebooks included (what choosing it shows)


@dataclass(frozen=True)
class SidebarData:
    all: int = 0
    pinned: int = 0
    trash: int = 0
    notebooks: list[NotebookEntry] = field(default_factory=list)  # parents before children
    tags: list[TagCount] = field(default_factory=list)
    untagged: int = 0
    # Right after unlocking, before the whole listing is read (`first_sidebar`): the
    # notebooks' names and how many notes in all, but no other count and no tag yet.
    loading: bool = False

    def notebook(self, notebook_id: str | None) -> NotebookEntry | None:
        return next((nb for nb in self.notebooks if nb.id == notebook_id), None)


def sidebar_data(vault: Vault) -> SidebarData:
    notes = vault.all_notes(bodies=False)  # counts only: no need to wait for the bodies
    live = [n for n in notes if not n.in_trash]
    notebooks = vault.notebooks()
    totals = notes_per_notebook(live, notebooks)
    entries = [
        NotebookEntry(nb.id, nb.name, nb.parent, vault.notebook_path(nb.id), totals.get(nb.id, 0))
        for nb in notebooks
    ]
    return SidebarData(
        all=len(live),
        pinned=sum(1 for n in live if n.pinned),
        trash=len(notes) - len(live),
        notebooks=entries,
        tags=vault.tags(),
        untagged=sum(1 for n in live if not n.tags),
    )


def first_sidebar(vault: Vault) -> SidebarData | None:
    """The sidebar of the first screen (from the snapshot's head, `Vault.first_screen`): the
    notebooks and how many notes, without reading the whole listing; None once it is read."""
    first, books = vault.first_screen("modified"), vault.first_notebooks()
    if first is None or books is None:
        return None
    by_id = {nb.id: nb for nb in books}
    entries = [
        NotebookEntry(nb.id, nb.name, nb.parent, notebook_path_in(by_id, nb.id), 0) for nb in books
    ]
    return SidebarData(all=first[1], notebooks=entries, loading=True)


class NoteSource:
    """The notes of the list's view, kept between keystrokes: typing in the search box filters
    this list again instead of reading the vault again. It is read anew when the view or sort
    changes or when the store changed (its data version moves on every commit, ours or
    another process's), and once the notes' bodies have all been read (`warm`).

    Right after unlocking the notes come without their bodies (the vault is opened with
    bodies="later"): the list is shown from the rest, a search looks at titles and tags (and
    the bodies already read) and says that its answer is partial (`search`; the screen says
    so too), and once the bodies have arrived the list is read again."""

    RANK_LIMIT = 2000  # more matches than this are ordered cheaply (see SearchIndex.search)
    RECENT_VIEWS = 4  # lists of views kept for going back to them (`base`)

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._lock = threading.Lock()
        self._key: tuple[Target, str, int, int] | None = None
        self._notes: list[Note] = []
        # The last few views read, by the same key: going back to one (the sidebar's "All
        # notes" after a notebook) reuses its list while nothing changed, instead of filtering
        # and sorting every note again (0.1 s at 100,000 notes). A list of references each.
        self._recent: dict[tuple[Target, str, int, int], list[Note]] = {}

    def base(self, target: Target, sort: str) -> list[Note]:
        with self._lock:
            vault = self.vault
            key = (target, sort, vault.store.data_version(), vault.bodies_epoch)
            if key != self._key:
                kept = self._recent.pop(key, None)
                if kept is None:
                    notebook = target.ref if target.kind == "notebook" else None
                    tag = target.ref if target.kind == "tag" else None
                    pinned = True if target.kind == "pinned" else None
                    kept = vault.notes(
                        notebook=notebook,
                        tag=tag,
                        trashed=target.is_trash,
                        pinned=pinned,
                        sort=sort,
                        bodies=False,
                    )
                # Only lists of the store as it is now are worth keeping.
                for old in [k for k in self._recent if k[2:] != key[2:]]:
                    del self._recent[old]
                while len(self._recent) >= self.RECENT_VIEWS:
                    del self._recent[next(iter(self._recent))]
                self._recent[key] = kept
                self._notes, self._key = kept, key
            return self._notes

    def first(self, target: Target, sort: str) -> tuple[list[Note], int] | None:
        """Right after unlocking, before the whole listing is read: the first notes of all
        notes in order `sort` and how many notes there are, from the snapshot's head, each
        vouched for (`Vault.first_screen`); None for any other view, or once the listing is
        read (then `answer`)."""
        if target != ALL:
            return None
        return self.vault.first_screen(sort)

    def notes(self, target: Target, sort: str, query: Query) -> list[Note]:
        """The view in the chosen order, or its matches best first while searching."""
        return self.answer(target, sort, query)[0]

    def answer(
        self, target: Target, sort: str, query: Query
    ) -> tuple[list[Note], bool, list[Note]]:
        """As `notes`; whether the matches may leave out notes whose bodies were not read yet
        (they were matched by their titles and tags only: the screen says so); and the
        listing the notes were taken from (`base`): two answers from the very same listing
        hold the very same note objects, so the screen need not look a note up again by its
        id (at 100,000 notes, tens of milliseconds)."""
        base = self.base(target, sort)
        if query.empty:
            return base, False, base
        vault = self.vault
        # Partial if a body was still missing when the list was read (it is then read again
        # once they are all there: the epoch moves) or is missing now.
        with self._lock:
            epoch = self._key[3] if self._key is not None else -1
        partial = vault.bodies_pending > 0 or epoch != vault.bodies_epoch
        found = vault.match_notes(base, query, rank_limit=self.RANK_LIMIT, partial=partial)
        return found, partial, base

    def warm(self, check: Callable[[], None] | None = None) -> bool:
        """Read the bodies still missing, a slice at a time, in the background (`check`
        between slices: locking stops it there): each is folded for search and parsed for
        the link index as it is read, then let go (the notes stay without their bodies;
        whoever shows one reads it from its envelope: `Vault.whole`). True if bodies were
        read: what the list shows should be read again (then `fold` lines up its texts)."""
        vault = self.vault
        filled = False
        if vault.bodies_pending:
            link_index(vault)  # made now, so it takes each body in the same pass
        while vault.bodies_pending:
            if check is not None:
                check()
            start = time.perf_counter()
            vault.load_bodies()
            filled = True
            # As long a pause as the slice took: the interface's thread (drawing, keys) gets
            # the interpreter at least half the time, not only when this one lets go.
            time.sleep(min(0.05, max(0.002, time.perf_counter() - start)))
        return filled

    def fold(self) -> None:
        """Fold every note's text for search now, in the background, so the first letter
        typed into the search box does not pay for it."""
        never = Query(terms=("\uffff",))
        self.vault.match_notes(self.vault.all_notes(bodies=False), never)
        with self._lock:  # (only a list read since every body came in)
            fresh = self._key is not None and self._key[3] == self.vault.bodies_epoch
            shown = self._notes if fresh else []
        if shown:  # and line up the list's own texts (the index keeps the last two lists)
            self.vault.match_notes(shown, never)

    def clear(self) -> None:
        with self._lock:
            self._key = None
            self._notes = []
            self._recent.clear()


def describe_target(target: Target, data: SidebarData) -> str:
    """A short name for what the list shows: 'All notes', 'Work/Projects', '#ideas'."""
    if target.kind == "notebook":
        entry = data.notebook(target.ref)
        return entry.path if entry else "Notebook"
    if target.kind == "tag":
        return f"#{target.ref}"
    return {"all": "All notes", "pinned": "Pinned", "trash": "Trash"}[target.kind]
