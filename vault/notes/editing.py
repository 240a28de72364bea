"""Notes: listing, reading, searching, creating, editing, trashing and purging them.

`Notes` is the layer of `Vault` above the filing (vault.notes.filing): every change a person
makes to notes, one sealed version each, and the changes that reach many notes at once
(deleting a notebook trashes its notes; renaming or deleting a tag edits every note with it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable
from itertools import chain, compress, repeat
from operator import attrgetter, eq, is_, is_not, itemgetter, lshift, not_, or_, sub
from typing import Any

from vault import gcpause
from vault.errors import (
    CorruptItemError,
    InvalidInputError,
    NotFoundError,
    UnsupportedFormatError,
    VaultError,
)
from vault.notes.cache import (  # (sort_key: for the faces, through here)
    SNAPSHOT_MIN_CHANGES,
    sort_key,  # noqa: F401
    sort_keys,
)
from vault.notes.filing import Filing, clean_tag, not_found
from vault.notes.model import (
    UNLOADED,
    Note,
    Notebook,
    NoteVersion,
    TagCount,
    has_body,
    now_ms,
    with_body,
)
from vault.notes.search import Hit, Query, parse_query
from vault.sealing import crypto, snapshot
from vault.sealing.envelope import is_erased, short

KEEP: Any = object()  # "leave this field as it is" in update calls
_TRASHED, _NOTEBOOK, _TAGS, _PINNED, _ID = map(
    attrgetter, ("trashed", "notebook", "tags", "pinned", "id")
)


def clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInputError("a note needs a title")
    return title


def sort_notes(notes: list[Note], sort: str = "modified") -> list[Note]:
    """Pinned first, then by the chosen order (ids break ties so the order is stable). The
    keys are made in C (`sort_keys`) and are unique, so only they are ever compared."""
    notes = notes if isinstance(notes, list) else list(notes)
    if sort in ("modified", "created") and len(notes) > 1:
        by_time = _by_time(notes, sort)
        if by_time is not None:
            return by_time
    order = sorted(zip(sort_keys(notes, sort), notes, strict=True), key=itemgetter(0))
    return list(map(itemgetter(1), order))


def _with_tag(notes: list[Note], folded: set[str]) -> list[Note]:
    """The notes carrying a tag whose name folds (`str.casefold`) to one of `folded`: its
    spellings among the notes' distinct tag names first (a few), then the notes carrying one
    of them in one C-level pass (100,000 notes: no Python loop over every note's tags)."""
    names = set(chain.from_iterable(map(_TAGS, notes)))
    spelled = {name for name in names if name.casefold() in folded}
    return list(compress(notes, map(not_, map(spelled.isdisjoint, map(_TAGS, notes)))))


_HEX_DIGITS = b"0123456789abcdef"


def _by_time(notes: list[Note], sort: str) -> list[Note] | None:
    """`sort_notes` by a time, each note's key (`sort_key`: not pinned, minus the time, the
    id) packed into one integer, made in C: integers sort in a third of the time tuples take
    (the app sorts 100,000 notes after every save). Exact: the fields are laid side by side,
    each as wide as its values need, and the ids, lowercase hexadecimal of one length, order
    as their numbers do. None when they are not (then the tuples)."""
    ids = list(map(_ID, notes))
    width = len(ids[0])
    if set(map(len, ids)) != {width}:
        return None
    joined = "".join(ids)
    if not joined.isascii() or joined.encode("ascii").translate(None, _HEX_DIGITS):
        return None
    times = list(map(attrgetter(sort), notes))
    newest = max(times)
    id_bits = 4 * width
    time_bits = (newest - min(times)).bit_length()
    # (pinned ? 0 : 1), then newest - time (the newest first), then the id.
    keys = map(
        or_,
        map(
            or_,
            map(lshift, map(not_, map(_PINNED, notes)), repeat(time_bits + id_bits)),
            map(lshift, map(sub, repeat(newest), times), repeat(id_bits)),
        ),
        map(int, ids, repeat(16)),
    )
    by_key = dict(zip(keys, notes, strict=True))
    if len(by_key) != len(notes):
        return None  # an id twice (not in a listing): the tuples keep both
    return list(map(by_key.__getitem__, sorted(by_key)))


class Notes(Filing):
    """The notes of an unlocked vault (see the module docstring)."""

    # --- notes -----------------------------------------------------------------------------------

    def all_notes(self, *, bodies: bool = True) -> list[Note]:
        """Every note. With `bodies=False` a note may come without its body (`UNLOADED`:
        `has_body`), for a caller that reads none (a list, counts, tags) or reads them one
        slice at a time (`bodies_of`). Opened with bodies="later" (the app), the notes are
        held without their bodies: with `bodies` (the default) each is a copy read whole
        from its envelope, every body at once in memory (a reader of them all should rather
        take `bodies_of(all_notes(bodies=False))`)."""
        if self._kinds is not None and "note" not in self._kinds:
            raise RuntimeError("this vault was opened without its notes")
        with self._lock:
            self.refresh()
            notes = [i for i in self._items.values() if isinstance(i, Note)]
        if bodies and self._fill_later:
            return self._wholes(notes)
        return notes

    def _wholes(self, notes: list[Note]) -> list[Note]:
        """`notes`, each one held without its body read whole (a copy)."""
        return [
            note if note.body is not UNLOADED else with_body(note, body)
            for note, body in self.bodies_of(notes)
        ]

    def warm(self) -> None:
        """Bring the items up to date with the store and make the maps derived from them
        (titles, notebooks, tags) again if they changed: for a caller with time to spare (the
        session agent between commands), so the next lookup does not."""
        if self._kinds is None or "note" in self._kinds:
            self.notes_titled("")
        self._notebook_map()
        self._tag_map()

    def warm_search(self) -> None:
        """Fold every note's text for search now, for a caller with time to spare (the session
        agent, right after `vault unlock` had it open the vault): the first `vault search`
        then only matches (at 100,000 notes it took 1.1 s, the next ones 0.1-0.2 s)."""
        if (self._kinds is not None and "note" not in self._kinds) or (
            self._bodiless and not self._fill_later
        ):
            return  # opened without the notes or their bodies: nothing to fold
        self._bodies_for_search(False)
        notes = self._searched(False)
        with self._lock, gcpause.paused():
            self._index.prepare(notes)

    def notes_titled(self, title: str) -> tuple[list[Note], bool]:
        """The notes whose title is exactly `title`, and whether `title` is also some note's
        id, from a map of titles kept until the notes change: the session agent names notes by
        title many times between changes, each without a pass over every note."""
        if self._kinds is not None and "note" not in self._kinds:
            raise RuntimeError("this vault was opened without its notes")
        with self._lock:
            self.refresh()
            generation = self._items.generation
            cached = self._derived.get("titles")
            if cached is None or cached[0] != generation:
                titles: dict[str, list[Note]] = {}
                for item in self._items.values():
                    if isinstance(item, Note):
                        titles.setdefault(item.title, []).append(item)
                cached = self._derived["titles"] = (generation, titles)
            return list(cached[1].get(title, ())), isinstance(self._items.get(title), Note)

    def notes(
        self,
        *,
        notebook: str | None = None,
        tag: str | None = None,
        trashed: bool = False,
        pinned: bool | None = None,
        sort: str = "modified",
        bodies: bool = True,
    ) -> list[Note]:
        """Notes in a notebook (and its sub-notebooks), with a tag, or in the trash
        (`bodies` as for `all_notes`)."""
        # Each filter is one C-level pass over the notes (the app filters 100,000 notes each
        # time a notebook or tag is chosen in its sidebar).
        notes = self.all_notes(bodies=bodies and not self._fill_later)
        in_trash = is_not if trashed else is_  # (`Note.in_trash`: `trashed` is not None)
        notes = list(compress(notes, map(in_trash, map(_TRASHED, notes), repeat(None))))
        if notebook is not None:
            inside = self.notebook_descendants(notebook)
            notes = list(compress(notes, map(inside.__contains__, map(_NOTEBOOK, notes))))
        if tag is not None:
            notes = _with_tag(notes, {tag.casefold()})
        if pinned is not None:
            notes = list(compress(notes, map(eq, map(_PINNED, notes), repeat(pinned))))
        if bodies and self._fill_later:  # (only these read whole)
            notes = self._wholes(notes)
        return sort_notes(notes, sort)

    def note(self, note_id: str) -> Note:
        """A note with its body (read from its envelope when the vault holds it without:
        bodies="later" keeps it without; bodies=False keeps it whole from then on)."""
        with self._lock:
            self.refresh()
            if not self._fill_later:
                self._whole(note_id)  # opened without the bodies: this one read whole
            item = self._items.get(note_id)
        if not isinstance(item, Note):
            if note_id in self.corrupt:
                raise CorruptItemError(self.corrupt[note_id], item_id=note_id)
            raise NotFoundError(f"no note with id {short(note_id)}")
        return self.whole(item)

    def whole(self, note: Note) -> Note:
        """`note` with its body: itself when it has it, else its own version read from the
        store (one envelope), without waiting for the cache's lock (the app calls this on its
        UI thread, for the note it shows and the list's rows on screen). It is kept among the
        last few read (`recent_body`), so it is not read again while it is on screen; opened
        with bodies=False, the cache also keeps it whole if the lock is free (bodies="later"
        keeps the notes without their bodies)."""
        if note.body is not UNLOADED:
            return note
        cached = self._items.get(note.id)
        if isinstance(cached, Note) and cached.version == note.version and has_body(cached):
            return dataclasses.replace(cached, conflict=note.conflict)
        body = self._body_of(note)
        whole = with_body(note, body)
        self.recent_body(note, body)
        if self._lock.acquire(blocking=False):
            try:
                if self._items.get(note.id) is cached and note.id in self._bodiless:
                    if self._fill_later:  # folded, as `load_bodies` would have it (the
                        self._index.put(cached, body)  # link index reads it itself)
                    else:
                        self._items[note.id] = dataclasses.replace(whole, conflict=cached.conflict)
                    del self._bodiless[note.id]
            finally:
                self._lock.release()
        return whole

    def known_body(self, note: Note) -> str | None:
        """`note`'s body if it is at hand without reading its envelope (the note holds it,
        the cache holds that version whole, or it is among the last read: `whole`), else
        None. Waits for no lock but a moment's: the app's screen asks while it draws."""
        if note.body is not UNLOADED:
            return note.body
        cached = self._items.get(note.id)
        if isinstance(cached, Note) and cached.version == note.version and has_body(cached):
            return cached.body
        if not note.version:
            return None
        with self._recent_lock:
            return self._recent.get((note.id, note.version))

    def read_note(self, note_id: str) -> Note | None:
        """One note by its full id, read and decrypted from the store alone: works in a partial
        view, and costs one envelope, not the whole vault. None if there is no such note."""
        with self._lock:
            row = self.store.item(note_id)
        if row is None or row.kind != "note" or row.deleted:
            return None
        try:
            payload = self.open_op(row)
        except VaultError as exc:
            raise CorruptItemError(str(exc), item_id=note_id) from None
        if is_erased(payload):
            raise CorruptItemError(f"note {short(note_id)} was erased (tampered)", item_id=note_id)
        return Note.from_payload(row.item_id, payload, row.op_id, row.conflict)

    def find_note(self, ref: str, *, trashed: bool | None = None) -> Note:
        """A note by id, short id, title or part of the title (vault.notes.lookup says how)."""
        from vault.notes import lookup  # it names Vault in its annotations

        return lookup.find_note(self, ref, trashed=trashed)

    def create_note(
        self,
        title: str,
        body: str = "",
        *,
        notebook: str | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
    ) -> Note:
        now = now_ms()
        return self.import_note(
            title, body, created=now, modified=now, notebook=notebook, tags=tags, pinned=pinned
        )

    def import_note(
        self,
        title: str,
        body: str,
        *,
        created: int,
        modified: int,
        notebook: str | None = None,
        tags: Iterable[str] = (),
        pinned: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> Note:
        """A note brought in from elsewhere (Markdown import): it keeps its own timestamps, and
        `extra` keeps fields this version has no use for (another app's front matter)."""
        with self._lock:
            if notebook is not None:
                self.notebook(notebook)
            note = Note(
                id=crypto.random_id(),
                title=clean_title(title),
                body=body,
                notebook=notebook,
                tags=self._register_tags(tags),
                pinned=pinned,
                created=created,
                modified=modified,
                extra=dict(extra or {}),
            )
            written = self._write(note, [])
            assert isinstance(written, Note)
            return written

    def update_note(
        self,
        note: Note,
        *,
        title: str = KEEP,
        body: str = KEEP,
        notebook: str | None = KEEP,
        tags: Iterable[str] = KEEP,
        pinned: bool = KEEP,
    ) -> Note:
        """Save changes to `note` as a new version whose parent is the version `note` was read
        at. Nothing changed means nothing written. If another writer saved in between, both
        versions are kept and the note is flagged as a conflict rather than one being lost."""
        changes: dict[str, Any] = {}
        if title is not KEEP:
            changes["title"] = clean_title(title)
        if body is not KEEP:
            changes["body"] = body
            # A note held without its body reads as "": it is compared as it is, so an
            # empty body given for it is a change all the same.
            if note.body is UNLOADED:
                with contextlib.suppress(VaultError):  # (else written as given)
                    note = self.whole(note)
        if notebook is not KEEP:
            if notebook is not None:
                self.notebook(notebook)
            changes["notebook"] = notebook
        if pinned is not KEEP:
            changes["pinned"] = bool(pinned)
        with self._lock:
            if tags is not KEEP:
                changes["tags"] = self._register_tags(tags)
            updated = dataclasses.replace(note, **changes)
            if updated.content_equal(note):
                return note
            if updated.title != note.title or updated.body != note.body:
                # "modified" follows the words only: pinning, tagging or moving a note must
                # not reorder a list sorted by it. Sync needs no time of its own for those
                # changes: merges follow the versions' parents, and "modified" merges by max.
                updated = dataclasses.replace(updated, modified=max(now_ms(), note.modified + 1))
            written = self._write(updated, self._parents(note))
            assert isinstance(written, Note)
            return written

    def trash_note(self, note: Note) -> Note:
        if note.in_trash:
            return note
        with self._lock:
            trashed = dataclasses.replace(note, trashed=now_ms(), pinned=False)
            written = self._write(trashed, self._parents(note))
            assert isinstance(written, Note)
            return written

    def restore_note(self, note: Note) -> Note:
        if not note.in_trash:
            return note
        with self._lock:
            notebook = note.notebook if note.notebook in self._notebook_map() else None
            restored = dataclasses.replace(note, trashed=None, notebook=notebook)
            written = self._write(restored, self._parents(note))
            assert isinstance(written, Note)
            return written

    def purge_note(self, note: Note) -> None:
        """Delete for good: a tombstone, and the sealed content of older versions erased.

        History is erased only when the tombstone is the note's one head. If other versions
        were saved concurrently (elsewhere, or by another process), they are edits the purge
        never saw: the note stays, with them, and nothing of theirs is erased."""
        # A batch, not a bare transaction: if the commit fails, the cache forgets the delete
        # it already applied (the note would otherwise look gone until someone's next commit).
        with self.batch():
            self._delete(note)
            row = self.store.item(note.id)
            if row is not None and row.deleted and len(self.store.heads(note.id)) == 1:
                older = [op for op in self.store.history(note.id) if op.op_id != row.op_id]
                self.store.erase_history(self.erasures(older))
        self.drop_snapshot()
        from vault.notes import attachments  # (and its threads) only when it is needed

        if attachments.FIELD in note.extra:  # its files, if no other note uses them
            attachments.collect_garbage(self)

    def drop_snapshot(self) -> None:
        """The snapshot may hold what was just erased (a purge, here or arriving by sync):
        it is overwritten and removed now, and locking seals a new one."""
        snapshot.destroy(self.path)
        self._unsnapped = max(self._unsnapped, SNAPSHOT_MIN_CHANGES)

    def empty_trash(self) -> int:
        trashed = self.notes(trashed=True, bodies=False)
        for note in trashed:
            self.purge_note(note)
        return len(trashed)

    def note_history(self, note: Note) -> list[NoteVersion]:
        """Every saved version of a note, oldest first."""
        versions = []
        for op in self.store.history(note.id):
            old: Note | None = None
            damaged = False
            if not op.deleted:
                try:
                    payload = self.open_op(op)
                    if not is_erased(payload):
                        old = Note.from_payload(note.id, payload, op.op_id)
                except VaultError:
                    old, damaged = None, True
            versions.append(NoteVersion(op.op_id, old, op.device, op.seq, damaged))
        return versions

    def damaged_notes(self) -> list[str]:
        """The ids of the live notes whose newest version does not open (not a notebook or a
        tag list, not one in conflict): what `damaged_note` and `write_over_damaged` can
        bring back."""
        with self._lock:
            named = list(self.corrupt)
            rows = [self.store.item(item_id) for item_id in named]
        return sorted(
            row.item_id
            for row in rows
            if row is not None and row.kind == "note" and not row.deleted and not row.conflict
        )

    def damaged_note(self, ref: str) -> Note:
        """A note whose newest version does not open (it is left out of every list), named by
        its id or the start of it: its newest version that does open, standing at the damaged
        one, so a change writes on top of it (`vault revert` makes a version that opens the
        newest again: the note is back). NotFoundError if no such note is named."""
        ref = ref.strip().lower()
        named = [i for i in self.corrupt if i.startswith(ref)] if len(ref) >= 4 else []
        row = self.store.item(named[0]) if len(named) == 1 else None
        if row is None or row.kind != "note" or row.deleted:
            raise NotFoundError(f"no note that could not be opened is named '{ref}'")
        if row.conflict:  # versions on two branches: which to go on from is not this to say
            raise CorruptItemError(
                f"note {short(row.item_id)} does not open and has conflicting versions; "
                "restore it from a backup or another device"
            )
        for op in reversed(self.store.history(row.item_id)):
            if op.deleted:
                break
            try:
                payload = self.open_op(op)
            except UnsupportedFormatError:
                if op.op_id == row.op_id:  # not damage: a newer vault reads it
                    raise CorruptItemError(
                        f"note {short(row.item_id)} was written by a newer version of vault; "
                        "upgrade"
                    ) from None
                continue
            except VaultError:
                continue
            if is_erased(payload):
                break
            return dataclasses.replace(
                Note.from_payload(row.item_id, payload, op.op_id), version=row.op_id
            )
        raise CorruptItemError(f"note {short(row.item_id)}: none of its versions opens")

    def write_over_damaged(self, at: Note, content: Note) -> Note:
        """`content`'s title, body, tags and pinning as the newest version of a note whose
        newest version does not open, written on top of that one (`at`, from `damaged_note`):
        even when `at` already shows that content (`update_note` would write nothing)."""
        with self._lock:
            new = dataclasses.replace(
                at,
                title=clean_title(content.title),
                body=content.body,
                tags=self._register_tags(content.tags),
                pinned=content.pinned,
                modified=max(now_ms(), at.modified + 1),
            )
            written = self._write(new, self._parents(at))
            assert isinstance(written, Note)
            self.corrupt.pop(at.id, None)  # (its newest version opens now)
            return written

    def search(
        self,
        query: str | Query,
        *,
        trashed: bool = False,
        notebook: str | None = None,
        tag: str | None = None,
        rank_limit: int | None = None,
    ) -> list[Hit]:
        if notebook is None and tag is None:
            notes = self._searched(trashed)
        else:
            notes = self.notes(trashed=trashed, notebook=notebook, tag=tag, bodies=False)
        return self.filter_notes(notes, query, rank_limit=rank_limit)

    def search_top(
        self, query: str | Query, limit: int, *, trashed: bool = False
    ) -> tuple[list[Hit], int]:
        """The first `limit` hits `search` returns (the same notes, order and scores) and how
        many it returns in all: what `vault search` shows, without scoring every match."""
        notes = self._searched(trashed)
        self._bodies_for_search(False)
        with self._lock, gcpause.paused():
            parsed = query if isinstance(query, Query) else parse_query(query)
            return self._index.top(notes, parsed, limit)

    def _searched(self, trashed: bool) -> list[Note]:
        """`notes(trashed=...)`, kept until a note changes: a search in the session agent does
        not sort every note again, and the index knows the very same list at once. Callers
        must not change it."""
        with self._lock:
            self.refresh()
            generation = self._items.generation_of(Note)
            name = "searched-trash" if trashed else "searched"
            cached = self._derived.get(name)
            if cached is None or cached[0] != generation:
                notes = self.notes(trashed=trashed, bodies=False)  # (the index has the folds)
                cached = self._derived[name] = (generation, notes)
            return cached[1]

    def filter_notes(
        self,
        notes: list[Note],
        query: str | Query,
        *,
        rank_limit: int | None = None,
        partial: bool = False,
    ) -> list[Hit]:
        """Search within a list the caller already holds (the app's current view). A note
        there without its body (`has_body`) is searched by its other fields alone: allowed
        only with `partial`, whose caller says so (the app, while the bodies are read); else
        the bodies still being read are waited for, and a vault opened without them refuses."""
        self._bodies_for_search(partial)
        # Up to one object per match and no cycles: the cyclic GC waits (vault.gcpause).
        with self._lock, gcpause.paused():
            parsed = query if isinstance(query, Query) else parse_query(query)
            hits = self._index.search(notes, parsed, rank_limit=rank_limit)
            self._drop_early_folds(notes, partial)
            return hits

    def match_notes(
        self,
        notes: list[Note],
        query: str | Query,
        *,
        rank_limit: int | None = None,
        partial: bool = False,
    ) -> list[Note]:
        """The notes `filter_notes` finds, in its order, without scores: the list filter's
        answer per keystroke, which makes no object per match (and so does not pause the
        cyclic GC: in the app, which froze the vault's objects, `gcpause` walks them all).
        `partial` as for `filter_notes`."""
        self._bodies_for_search(partial)
        with self._lock:
            parsed = query if isinstance(query, Query) else parse_query(query)
            found = self._index.filter(notes, parsed, rank_limit=rank_limit)
            self._drop_early_folds(notes, partial)
            return found

    def _bodies_for_search(self, partial: bool) -> None:
        self._settle_bodies()
        if self._bodiless and not partial:
            if not self._fill_later:
                raise RuntimeError("this vault was opened without the notes' bodies")
            self.load_all_bodies()

    def _drop_early_folds(self, notes: list[Note], partial: bool) -> None:
        """After a partial search of a list read before the last bodies came in: what was
        folded from it (titles alone) must not stay, as the same versions now have their
        bodies (a keystroke in that window made later searches miss them)."""
        if partial and not self._bodiless and any(n.body is UNLOADED for n in notes):
            self._index.drop_lists()  # (the folds are of bodies only: kept)

    def delete_notebook(self, nb: Notebook) -> int:
        """Delete a notebook and its sub-notebooks; their notes go to the trash (restorable to
        the top level). Returns how many notes were trashed."""
        with self._lock:
            inside = self.notebook_descendants(nb.id)
            every = self.all_notes(bodies=False)  # (a change keeps the body it had: `_write`)
            notes = [n for n in every if n.notebook in inside and not n.in_trash]
            for note in notes:
                self.trash_note(note)
            by_id = self._notebook_map()
            for nb_id in inside:
                if nb_id in by_id:
                    self._delete(by_id[nb_id])
            return len(notes)

    # --- tags on notes ----------------------------------------------------------------------------

    def tags(self) -> list[TagCount]:
        """Every tag with the number of notes (outside the trash) carrying it."""
        counts: dict[str, int] = {}
        names: dict[str, str] = {}
        for tag in self._tag_map().values():
            key = tag.name.casefold()
            counts.setdefault(key, 0)
            names[key] = tag.name
        for note in self.all_notes(bodies=False):
            if note.in_trash:
                continue
            for t in note.tags:
                key = t.casefold()
                counts[key] = counts.get(key, 0) + 1
                names.setdefault(key, t)
        return sorted(
            (TagCount(names[k], c) for k, c in counts.items()), key=lambda t: t.name.casefold()
        )

    def _carrying(self, name: str) -> tuple[list[Note], set[str]]:
        """The notes (the trash's too) carrying tag `name`, and the folded names that count
        as it: the name as given (as `tags` lists it, which may be a name from another device
        that this one would not accept, "a,b") and, if it is a valid one, as cleaned ("#work"
        typed is "work"). NotFoundError if `vault tags` would not list it: neither registered
        nor on a note outside the trash (found without counting every tag, as `tags` does)."""
        keys = {name.casefold()}
        with contextlib.suppress(InvalidInputError):
            keys.add(clean_tag(name).casefold())
        carrying = _with_tag(self.all_notes(bodies=False), keys)  # (as delete_notebook)
        registered = any(t.name.casefold() in keys for t in self._tag_map().values())
        in_trash = map(is_not, map(_TRASHED, carrying), repeat(None))
        if not registered and all(in_trash):  # (no note, or only notes in the trash)
            raise not_found("tag", name, [t.name for t in self.tags()], "vault tags")
        return carrying, keys

    def rename_tag(self, old: str, new: str) -> int:
        """Rename a tag on every note carrying it (merging into `new` if it exists); a new
        spelling of the same name ("work" to "Work") is the registry's spelling from now on."""
        new_name = clean_tag(new)
        with self._lock:
            carrying, keys = self._carrying(old)
            respelled = new_name.casefold() in keys
            if respelled:  # first: each note takes the registry's spelling as it is written
                self._respell_tag(new_name)
            changed = 0
            for note in carrying:
                tags = [new_name if t.casefold() in keys else t for t in note.tags]
                self.update_note(note, tags=tags)
                changed += 1
            if not respelled:
                self._drop_tag_item(old)
            self._register_tags([new_name])
            return changed

    def delete_tag(self, name: str) -> int:
        """Remove a tag from every note (the notes stay) and from the registry."""
        with self._lock:
            carrying, keys = self._carrying(name)
            changed = 0
            for note in carrying:
                self.update_note(note, tags=[t for t in note.tags if t.casefold() not in keys])
                changed += 1
            self._drop_tag_item(name)
            return changed
