"""The decrypted items of one unlocked vault, kept in memory (never on disk) and verified.

`ItemCache` is the lowest layer of `Vault` (vault.notes.vault): it holds the keys, reads the
sealed history into a cache of decrypted items, refreshes it cheaply when another process or a
sync changed the store, seals every change as one new version, and keeps the snapshot that
makes the next unlock fast. The layers above (vault.notes.filing, vault.notes.editing) work
on its items through its underscored members; nothing outside this package should.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import heapq
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import attrgetter, eq, itemgetter, ne, neg, not_
from typing import Any, Literal

from vault import gcpause
from vault.errors import CorruptItemError, InvalidInputError, VaultError
from vault.notes import integrity
from vault.notes.model import (
    KIND_TYPES,
    UNLOADED,
    Item,
    Note,
    Notebook,
    Tag,
    forget_shared,
    set_unloaded,
    with_body,
)
from vault.notes.search import SearchIndex, note_fold
from vault.notes.unlocking import Prefetched
from vault.sealing import crypto, keys, snapshot
from vault.sealing.crypto import Label
from vault.sealing.envelope import (
    Claims,
    erased_payload,
    is_erased,
    open_op,
    open_sealed_op,
    parse_op,
    seal_op,
    short,
    version_tag,
)
from vault.storage import upgrade
from vault.storage.store import HistoryScan, ItemRow, Op, Store

# A snapshot is sealed only for vaults this big (smaller ones open fast anyway), and only once
# this many items (or 2%) changed since the last one.
SNAPSHOT_MIN_ITEMS = 200
SNAPSHOT_MIN_CHANGES = 32
# Bodies read from the store per slice of `load_bodies`, when the snapshot has none to give.
BODIES_PER_SLICE = 400
# Bodies read from the store at once for a reader of many (`bodies_of`): one query per slice.
BODIES_PER_READ = 256
# Bodies read whole lately (`whole`: the note shown, the list's rows on screen), kept so a row
# drawn again or the note opened after its row was drawn costs no envelope.
RECENT_BODIES = 128
Bodies = bool | Literal["later"]
# The first screen from a snapshot's head (version 3) is given up for the whole listing at
# once when more items than this changed since it was sealed.
HEAD_CHANGES = 500


def sort_key(sort: str = "modified") -> Callable[[Note], tuple[Any, ...]]:
    """The key notes are listed by: pinned first, then the chosen order, then the id, so no
    two notes have the same key (a listing kept in order inserts by it; the snapshot's head
    holds the first notes in each order)."""
    if sort == "title":
        return lambda n: (not n.pinned, n.title.casefold(), n.id)
    if sort == "created":
        return lambda n: (not n.pinned, -n.created, n.id)
    if sort == "modified":
        return lambda n: (not n.pinned, -n.modified, n.id)
    raise InvalidInputError(f"unknown sort order '{sort}' (modified, created or title)")


def sort_keys(notes: Sequence[Note], sort: str = "modified") -> list[tuple[Any, ...]]:
    """`sort_key(sort)` of each note, made column by column in C: 100,000 keys in a few tens
    of milliseconds rather than 0.2 s of a Python call per note (tests/test_sort_keys.py
    checks they are equal)."""
    if sort == "title":
        middle = map(str.casefold, map(attrgetter("title"), notes))
    elif sort in ("created", "modified"):
        middle = map(neg, map(attrgetter(sort), notes))
    else:
        sort_key(sort)  # (raises: unknown order)
        raise AssertionError(sort)
    pinned = map(not_, map(attrgetter("pinned"), notes))
    return list(zip(pinned, middle, map(attrgetter("id"), notes), strict=True))


@dataclasses.dataclass(frozen=True)
class FirstScreen:
    """What the app shows before the whole listing is read (`ItemCache.first_screen`): the
    first notes outside the trash in each order, each vouched for against the store (from
    the snapshot's head) or decrypted from it, and how many notes there are outside the
    trash. Exact: no note the whole listing would put among these is missing. The
    notebooks come with it (the head holds every item that is not a note), for the sidebar's
    names before its counts."""

    notes: dict[str, list[Note]]  # order -> the first notes in that order
    count: int
    notebooks: dict[str, Notebook] = dataclasses.field(default_factory=dict)  # by id


class _Items(dict[str, Item]):
    """The decrypted items, counting changes so views derived from them (the notebook and tag
    maps) are rebuilt only when something changed, not once per note shown. Changes are also
    counted per kind of item: a new note does not rebuild the notebook and tag maps (which
    made creating many notes quadratic: 100,000 imported notes each rebuilt both maps)."""

    generation = 0

    def __init__(self) -> None:
        super().__init__()
        self.kind_generation: dict[type, int] = {}

    def _bump(self, *items: object) -> None:
        self.generation += 1
        for item in items:
            if item is not None:
                kind = type(item)
                self.kind_generation[kind] = self.kind_generation.get(kind, 0) + 1

    def __setitem__(self, key: str, value: Item) -> None:
        self._bump(self.get(key), value)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._bump(self.get(key))
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self._bump(self.get(key))
        return super().pop(key, *default)

    def clear(self) -> None:
        self._bump(*{type(i): i for i in self.values()}.values())
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = dict(*args, **kwargs)
        touched = [*new.values(), *(self[k] for k in new if k in self)]
        self._bump(*{type(i): i for i in touched}.values())  # once per kind, not per item
        super().update(new)

    def generation_of(self, kind: type) -> int:
        """A counter that moves whenever an item of `kind` (exactly that type: the item types
        have no subclasses) is added, replaced or removed."""
        return self.kind_generation.get(kind, 0)


class ItemCache:
    """The verified, decrypted items of an unlocked vault. Thread-safe; `lock()` drops every
    decrypted value it holds."""

    def __init__(
        self,
        store: Store,
        master_key: bytes,
        prefetched: Prefetched | None = None,
        kinds: frozenset[str] | None = None,
        scan: HistoryScan | None = None,
        bodies: Bodies = True,
        titled: str | None = None,
    ) -> None:
        self.store = store
        # Only items of these kinds are read (None: all). `vault new` needs the notebooks and
        # tags, not 10,000 notes; such a vault must not be asked for its notes.
        self._kinds = kinds
        # bodies=False: the notes from the snapshot come without their bodies (`vault ls`
        # decrypts its first part only); those notes are `_bodiless` (id -> the snapshot's
        # version), `note()` reads one whole from the store, and their body is `UNLOADED`
        # (a version of one written takes the body of the version it came from: `_write`).
        # bodies="later" (the app): the same at first, with the rest of the snapshot kept open
        # so `load_bodies` reads them, a slice at a time, and folds each for search (the
        # index's `put`); the notes stay without their bodies (memory: 200 MB at 100,000
        # notes), which `whole`, `note()` and `bodies_of` read from their envelopes. A search
        # first waits for the rest of the folds.
        self._bodies = bodies is True
        self._fill_later = bodies == "later"
        self._body_stream: snapshot.BodyStream | None = None
        self._stream_lock = threading.Lock()  # one reader of the stream at a time
        self.bodies_epoch = 0  # moves once every note holds its body again
        self._bodies_told = False  # (and `_bodies_done` has run for it)
        self._bodiless: dict[str, str] = {}
        self._snap_old = False  # the snapshot read was of an older version: lock seals anew
        # bodies="later" with a version 3 snapshot: the first screen from its head, and the
        # rest of the first load (the listing, the first refresh) put off until something
        # needs it (`_finish_listing`: any refresh, a write, the app's worker right after).
        self._head: snapshot.Head | None = None
        self._screen: FirstScreen | None = None
        self._put_off: tuple[HistoryScan, set[str]] | None = None
        self.path = store.path
        self.vault_id = store.vault_id
        self._mk = bytearray(master_key)
        # The password slot that opened this vault and its key-encryption key, when it was
        # opened with the password: a master key another device rotated to is wrapped with it
        # (vault.sync.rotation), so this device follows without asking for the password again.
        self._rewrap: tuple[keys.Slot, bytearray] | None = None
        self._items_key = crypto.subkey(master_key, Label.ITEMS)
        self._tag_key = crypto.subkey(master_key, Label.TAG_ID)
        store.commit_key = crypto.subkey(master_key, Label.OPS_SUM)
        # Set when the rows no longer match their commitment: versions were removed or the store
        # rolled back without the key (FORMAT.md, "The commitment over the operations").
        self.history_incident: str | None = None
        self._history_checked = -1
        self._lock = threading.RLock()
        self._items = _Items()
        self._derived: dict[str, tuple[Any, Any]] = {}  # name -> (what it was made at, value)
        self._views: dict[str, Any] = {}  # name -> an object kept up to date by itself (view())
        self.corrupt: dict[str, str] = {}
        # The claims (op id, parents, deleted, device) each cached item was verified with, and
        # the version tags the snapshot vouches for (vault.sealing.envelope.version_tag).
        self._claims: dict[str, tuple] = {}  # item id -> ItemRow.key it was verified with
        self._tags: dict[str, str] = {}  # item id -> version tag the snapshot vouched for
        self._snap_tags: dict[str, str] = {}
        self._snap_conflicts: set[str] = set()  # the snapshot's entries marked in conflict
        self._heads_checked: set[Claims] = set()  # other heads of conflicts, verified
        self._seen_version = -1
        self._applied = 0  # writes of ours the cache applied as it made them (see batch)
        self._index = SearchIndex(reader=self._unfolded_bodies)
        self._recent: collections.OrderedDict[tuple[str, str], str] = collections.OrderedDict()
        self._recent_lock = threading.Lock()
        # Called with each slice of (note, body) `load_bodies` reads (bodies="later"), before
        # the bodies are let go: a view that needs every body (the link index) made in the
        # same pass. Dropped at lock.
        self._body_sinks: list[Callable[[list[tuple[Note, str]]], None]] = []
        self._prefetched = prefetched
        if upgrade.upgrade(store, master_key):
            self._prefetched = None  # read before the upgrade sealed every envelope anew
            scan = None
        with gcpause.paused():  # a bulk load: no cycles to find among these objects
            self._first_load(store, kinds, scan, titled if bodies is False else None)

    def _first_load(
        self,
        store: Store,
        kinds: frozenset[str] | None,
        scan: HistoryScan | None,
        titled: str | None = None,
    ) -> None:
        # The index tables are checked against the operations (and rebuilt if someone edited
        # them): what is shown comes from the sealed history, not from a row that says so.
        # The same scan gives the first refresh its states (no second read of the store).
        # A scan made while the KDF ran is used only if nothing was committed since it began.
        tails = kinds is None and snapshot.path_in(self.path).exists()
        if scan is not None and scan.tails == tails and scan.version == store.data_version():
            store.repair_index(scan)
        else:
            scan = store.scan_history(tails=tails)
        self.index_repaired, headless = scan.wrong, scan.headless
        for item_id in headless:
            self.corrupt[item_id] = (
                f"item {short(item_id)} has no current version: its history rows were altered "
                "(tampered)"
            )
        if kinds is None and self._fill_later and tails and self._open_head(scan):
            # The first screen is made (every entry on it vouched for); the commitment over
            # the history and the rest are checked and read when something needs them.
            self._put_off = (scan, headless)
            self._snapped = self._items.generation
            return
        if kinds is None and titled is not None and tails:
            listing = snapshot.load(*self._snapshot_where(), bodies=False)
            if listing and self._only_titled(scan, titled, *listing):
                self._check_scan(store, scan, self._kinds)  # (the view's kinds, now)
            else:
                self._check_scan(store, scan, kinds)
                if listing:
                    self._take_listing(*listing)
            self._end_first_load(scan, headless)
            return
        self._check_scan(store, scan, kinds)
        if kinds is None:  # a partial view reads its few items from the store directly
            self._load_snapshot()
        self._end_first_load(scan, headless)

    # Set by `_only_titled`: the notes titled exactly as asked, beside a view without notes.
    titled: list[Note] | None = None
    # More notes than this changed since the snapshot: `_only_titled` leaves it to the whole.
    TITLED_UNVOUCHED = 256

    def _only_titled(
        self,
        scan: HistoryScan,
        title: str,
        entries: list[snapshot.Entry],
        whole: bool,
        file_version: int,
    ) -> bool:
        """Opened to name a note by its title (`titled`, a command that reads one note): the
        live notes titled exactly `title`, found in the snapshot's listing without building a
        note per entry. An entry counts only if its version tag is the tag the scan computed
        for the head the store names now (as `_vouch`); every other live note is read from
        the store. When some are found (`titled`: without their bodies; `Vault.read_note`
        reads one whole), the cache becomes a view without the notes (as `kinds` without
        "note"): the notebooks and tags taken from the same listing, and no snapshot sealed
        at lock. False (and nothing changed) when there are none, when one of them is in
        conflict (its other versions are checked with every note's), or when a note does not
        open or too many changed: the whole listing is taken then, as without a title."""
        # Every pass over the ten thousand entries is made in C (map, zip, compress).
        shown, tags = scan.shown, scan.prepare().prepared["tags"]
        versions = map(str.partition, map(itemgetter(2), entries), repeat(":"))
        snap = dict(zip(map(itemgetter(0), entries), map(itemgetter(2), versions), strict=True))
        moved: set[str] = set()
        if snap != tags:  # (equal: the snapshot is current, the usual case)
            moved = set(map(itemgetter(0), tags.items() - snap.items()))
        # The live notes whose head is not the one their entry was sealed at (or that have
        # none), read from the store below; the entries of the others are as the store's.
        rest = [i for i in moved if shown[i].kind == "note"]
        titles = map(dict.get, map(itemgetter(4), entries), repeat("title"))
        named = compress(entries, map(eq, titles, repeat(title)))
        found = [
            Note.from_payload(item_id, payload, version.partition(":")[0], shown[item_id].conflict)
            for item_id, kind, version, _, payload in named
            if kind == "note" and item_id in tags and item_id not in moved
        ]
        if len(rest) > self.TITLED_UNVOUCHED:
            return False
        for row in self.store.items_by_id(rest):
            if row.key != shown[row.item_id].key:
                return False  # moved since the scan
            try:
                payload = self.open_op(row)
            except VaultError:
                return False  # the whole listing reports it
            if is_erased(payload):
                return False
            if payload.get("title") == title:
                found.append(Note.from_payload(row.item_id, payload, row.op_id, row.conflict))
        if not found or any(n.conflict for n in found):
            return False
        for note in found:
            if note.id not in rest:
                set_unloaded(note)  # (made here, shared with no one yet)
        self.titled = found
        self._kinds = frozenset(k for k in KIND_TYPES if k != "note")
        others = compress(entries, map(ne, map(itemgetter(1), entries), repeat("note")))
        self._take_listing(list(others), whole, file_version)
        return True

    def _check_scan(self, store: Store, scan: HistoryScan, kinds: frozenset[str] | None) -> None:
        """The commitment over the rows (`history_incident`) and the first refresh's states."""
        self.history_incident = integrity.check_commitment(store, scan)
        self._history_checked = store.others_version()  # (Vault.check_history)
        self._first_states = {
            i: r
            for i, r in scan.shown.items()
            if not r.deleted and (kinds is None or r.kind in kinds)
        }

    _first_states: dict[str, ItemRow] | None = None
    _head_given_up = False  # more than HEAD_CHANGES items changed since the head: seal anew

    def _end_first_load(self, scan: HistoryScan, headless: set[str]) -> None:
        deleted = [r for r in scan.shown.values() if r.deleted]
        # The scan's version tags and claims of the heads, to vouch for the snapshot's entries
        # at once at the first refresh (`_vouch`); prepared while the KDF ran.
        fresh = self._snap_tags and self._first_states is not None
        self._first_prepared = scan.prepare().prepared if fresh else None
        self._snapped = self._items.generation
        self._verify_deletions(headless, deleted)
        self.refresh()

    # --- the first screen, from the snapshot's head (version 3) ---------------------------------

    def _open_head(self, scan: HistoryScan) -> bool:
        """Read the snapshot's head and make the first screen from it (`FirstScreen`), the
        file left open for the rest; False (and nothing kept) when there is no head to use."""
        where = (self.path, self._snapshot_key(), self.vault_id, keys.mk_id(bytes(self._mk)))
        head = snapshot.load_head(*where)
        if head is None:
            return False
        try:
            screen = self._head_screen(head, scan.prepare())
        except (VaultError, ValueError, TypeError, KeyError, AttributeError):
            screen = None
        if screen is None:
            head.close()
            return False
        self._head, self._screen = head, screen
        return True

    def _head_screen(self, head: snapshot.Head, scan: HistoryScan) -> FirstScreen | None:
        """The first screen: the head's entries whose version tag is the one the scan
        computed for the head the store names now (as `_vouch`), and the items with an
        operation newer than the head's high-water mark decrypted from the store. None (read
        the whole listing instead) if too many changed, or if an entry's item moved without a
        newer operation (the store was rolled back or edited: not for a hint to paper over)."""
        changed = self.store.changed_since(head.high_water, HEAD_CHANGES)
        if changed is None:
            # Sealed again at lock, however few changes that makes by `_save_snapshot`'s
            # measure (2% of a big vault is 2,000): else no unlock uses a head until then.
            self._head_given_up = True
            return None
        tags, shown = scan.prepared["tags"], scan.shown
        items: dict[str, Item] = {}
        sealed: list[Note] = []  # the head's notes as sealed: where each order's first ends
        for item_id, kind, version, conflict, payload in head.entries:
            item_type = KIND_TYPES.get(kind)
            op_id, _, tag = version.partition(":")
            if item_type is None or not tag:
                return None
            item = item_type.from_payload(item_id, payload, op_id, conflict)
            if isinstance(item, Note):
                set_unloaded(item)  # (frozen: set as from_payload does)
                sealed.append(item)
            if item_id in changed:
                continue  # read below as the store has it now
            if tags.get(item_id) != tag:
                return None
            state = shown[item_id]
            if state.conflict and not self._forks_open(item_id):
                return None  # a version that does not open: the whole listing reports it
            if isinstance(item, Note | Notebook) and item.conflict != state.conflict:
                item = dataclasses.replace(item, conflict=state.conflict)
            items[item_id] = item
        live = [
            i
            for i in changed
            if i in shown and not shown[i].deleted and shown[i].kind in KIND_TYPES
        ]
        for row in self.store.items_by_id(live):
            if row.key != shown[row.item_id].key:
                return None  # moved since the scan: the first refresh reads it
            try:
                payload = self.open_op(row)
            except VaultError:
                continue  # never shown; the whole listing reports it
            if not is_erased(payload):
                items[row.item_id] = KIND_TYPES[row.kind].from_payload(
                    row.item_id, payload, row.op_id, row.conflict
                )
        # How many notes outside the trash: every live note the store names, but those the
        # head says were in the trash or left out and that did not change since, and the
        # changed ones as they are now.
        left_out = head.trash | head.absent
        count = sum(
            1
            for i, r in shown.items()
            if r.kind == "note" and not r.deleted and i not in changed and i not in left_out
        )
        notes = [n for n in items.values() if isinstance(n, Note) and not n.in_trash]
        count += sum(1 for n in notes if n.id in changed)
        orders: dict[str, list[Note]] = {}
        outside = [n for n in sealed if not n.in_trash]
        for order in snapshot.HEAD_ORDERS:
            key = sort_key(order)
            if head.complete:
                orders[order] = sorted(notes, key=key)
                continue
            # Every note not in the head that did not change came after the head's last in
            # this order when it was sealed, and still does: what comes before it is exact.
            if len(outside) < head.notes:
                return None
            last = heapq.nsmallest(head.notes, map(key, outside))[-1]
            orders[order] = sorted((n for n in notes if key(n) <= last), key=key)
        books = {i: nb for i, nb in items.items() if isinstance(nb, Notebook)}
        return FirstScreen(orders, count, books)

    def _forks_open(self, item_id: str) -> bool:
        """Whether every version of a forked item opens (as `_verify_conflicts` checks at the
        first refresh): a row forged into its history makes a fork whose shown head is still
        the sealed one, so the entry's tag alone does not tell."""
        for version in self.store.history(item_id):
            if version.claims in self._heads_checked:
                continue
            try:
                open_op(self._items_key, self.vault_id, version.claims, version.envelope)
            except VaultError:
                return False
            self._heads_checked.add(version.claims)
        return True

    def first_screen(self, sort: str) -> tuple[list[Note], int] | None:
        """The first notes outside the trash in order `sort` and how many there are, while
        the whole listing is not read yet (from the snapshot's head: `FirstScreen`); None once
        it is (or when there was no head to use). Takes no lock: the app asks for it while
        a worker reads the listing."""
        screen = self._screen
        if screen is None or sort not in screen.notes:
            return None
        return screen.notes[sort], screen.count

    @property
    def listing_pending(self) -> bool:
        """Whether the first load was put off after the first screen (`finish_listing`)."""
        return self._put_off is not None

    def finish_listing(self) -> None:
        """The rest of the first load, put off after the first screen: the listing (the
        snapshot's first part, vouched for as without a head), the deletions' check and the
        first refresh. Whatever needs the items does this first (`refresh`); the app calls it
        on a worker right after showing the first screen."""
        if self._put_off is None:
            return
        with self._lock:
            put_off, self._put_off = self._put_off, None
            if put_off is None:
                return
            head, self._head = self._head, None
            scan, headless = put_off
            try:
                with gcpause.paused():
                    self._check_scan(self.store, scan, None)
                    if scan.version != self.store.data_version():
                        self._first_states = None  # committed since the scan: read it anew
                    listing = head.listing() if head is not None else None
                    if listing:
                        self._take_listing(*listing)
                    self._end_first_load(scan, headless)
            except BaseException:
                # Not finished (the store busy, a read failing): the first screen is not
                # shown any longer, and the next refresh does all of it again (the
                # commitment, the deletions), from the store alone (the head's file is
                # spent). Never a first screen for good, nor an incident left untold.
                if head is not None:
                    head.close()
                self._close_body_stream()
                self._bodiless.clear()
                self._items.clear()
                self._snap_tags.clear()
                self._first_states = self._first_prepared = None
                self._seen_version = -1
                self._put_off = put_off
                raise
            finally:
                self._screen = None

    def lock(self) -> None:
        """Forget every decrypted value and the keys (as far as Python lets us), after sealing
        a new snapshot if many items changed since the last."""
        with self._lock:
            if self._put_off is not None:  # nothing written since the snapshot (`_write`)
                scan = self._put_off[0]
                self._put_off = self._screen = None
                # The commitment is still checked (an incident is recorded for the next
                # opening to tell); never a reason for locking to fail.
                with contextlib.suppress(VaultError, OSError):
                    integrity.check_commitment(self.store, scan)
                head, self._head = self._head, None
                if head is not None:
                    head.close()
            elif any(self._mk):
                # Never a reason for locking to fail: without a snapshot, unlocking is slower.
                self._index.clear()  # (first: sealing may read every body meanwhile)
                with contextlib.suppress(VaultError, OSError):
                    self._save_snapshot()
            self._close_body_stream()
            self._bodiless.clear()
            self._items.clear()
            self.titled = None  # (decrypted notes too)
            self._states = self._heads = None
            self._index.clear()
            forget_shared()  # (tag names and notebook ids the notes shared)
            self._derived.clear()  # the notebook and tag maps hold decrypted names
            self._views.clear()  # and the link index, decrypted notes
            self._body_sinks.clear()
            with self._recent_lock:
                self._recent.clear()
            for i in range(len(self._mk)):
                self._mk[i] = 0
            if self._rewrap is not None:
                for i in range(len(self._rewrap[1])):
                    self._rewrap[1][i] = 0
                self._rewrap = None
            self._items_key = b""
            self._tag_key = b""
            self.store.commit_key = None
            self.store.close()

    close = lock

    @property
    def master_key(self) -> bytes:
        """For sync and backup, which derive their own subkeys from it."""
        return bytes(self._mk)

    # --- the decrypted cache ---------------------------------------------------------------------

    @property
    def _unsnapped(self) -> int:
        """Changes to the items since the snapshot was read or written (vault.sealing.snapshot):
        when enough have, locking seals a new one."""
        return self._items.generation - self._snapped

    @_unsnapped.setter
    def _unsnapped(self, changes: int) -> None:
        self._snapped = self._items.generation - changes

    def _snapshot_key(self) -> bytes:
        return crypto.subkey(bytes(self._mk), Label.SNAPSHOT)

    def _snapshot_where(self) -> tuple[Any, bytes, str, str]:
        return (self.path, self._snapshot_key(), self.vault_id, keys.mk_id(bytes(self._mk)))

    def _load_snapshot(self) -> None:
        where = self._snapshot_where()
        if self._fill_later:
            listing = snapshot.load_listing(*where)
            if not listing:
                return
            self._take_listing(*listing)
            return
        found = snapshot.load(*where, bodies=self._bodies)
        if found:
            self._take_listing(*found)

    def _take_listing(
        self,
        entries: list[snapshot.Entry],
        whole: bool,
        file_version: int,
        body_stream: snapshot.BodyStream | None = None,
    ) -> None:
        self._body_stream = body_stream
        self._snap_old = file_version != snapshot.VERSION
        self._snap_conflicts = {e[0] for e in entries if e[3]}
        items: dict[str, Item] = {}
        tags, bodiless, types = self._snap_tags, self._bodiless, KIND_TYPES
        for item_id, kind, version, conflict, payload in entries:  # (checked by snapshot)
            item_type = types.get(kind)
            op_id, _, tag = version.partition(":")
            if item_type is not None and tag:
                item = items[item_id] = item_type.from_payload(item_id, payload, op_id, conflict)
                tags[item_id] = tag
                if not whole and kind == "note":
                    bodiless[item_id] = version
                    set_unloaded(item)  # (frozen: set as from_payload does)
        self._items.update(items)

    def _save_snapshot(self, *, force: bool = False) -> None:
        """Seal the current items for the next unlock, if it saves that unlock real work."""
        count = len(self._items)
        if count < SNAPSHOT_MIN_ITEMS or self._kinds is not None:
            return
        due = self._unsnapped >= max(SNAPSHOT_MIN_CHANGES, count // 50)
        if not force and not due and not self._snap_old and not self._head_given_up:
            return
        # Read before the refresh: every operation at or below it is in the cache after it,
        # so whatever the head leaves out from here on has a newer one (`_head_screen`).
        high_water = self.store.high_water()
        self.refresh()
        # bodies="later": the notes are held without their bodies; each is read from its
        # envelope as it is sealed (`sealed` below), never all kept in the items.
        if self._bodiless and not self._fill_later and not self._fill_bodies():
            return  # the snapshot changed meanwhile: the next unlock with the bodies seals it
        # Tags are computed here, not at every decrypt: from the claims this cache verified
        # and the envelope the store holds for them now.
        states = self.store.item_states(envelopes=True)
        verified: list[tuple[Item, str]] = []
        for item in list(self._items.values()):
            claims, state = self._claims.get(item.id), states.get(item.id)
            if claims is None or state is None or state.key != claims:
                continue  # not verified as the store holds it now: the next unlock opens it
            tag = self._tags.get(item.id) or version_tag(
                self.vault_id, state.claims, state.envelope
            )
            verified.append((item, tag))

        def entry(item: Item, tag: str, body: bool = True) -> snapshot.Entry:
            payload = item.to_payload()
            if not body:
                payload.pop("body", None)
            conflict = getattr(item, "conflict", False)
            return item.id, payload["kind"], f"{item.version}:{tag}", conflict, payload

        written = {item.id for item, _ in verified}
        listed = [(i, t) for i, t in verified if isinstance(i, Note) and not i.in_trash]
        chosen: dict[str, tuple[Item, str]] = {}
        for order in snapshot.HEAD_ORDERS:
            key = sort_key(order)
            for item, tag in heapq.nsmallest(
                snapshot.HEAD_NOTES,
                listed,
                key=lambda pair: key(pair[0]),  # type: ignore[arg-type]
            ):
                chosen[item.id] = (item, tag)
        head = snapshot.head_object(
            high_water,
            [entry(i, t, False) for i, t in verified if not isinstance(i, Note)]
            + [entry(i, t, False) for i, t in chosen.values()],
            len(chosen) == len(listed),
            [i.id for i, _ in verified if isinstance(i, Note) and i.in_trash],
            [i for i, r in states.items() if r.kind == "note" and i not in written],
        )

        # The bodies of the notes held without them (bodies="later"): from the snapshot on
        # disk where it holds the very version, else each from its envelope (below).
        held = {
            item.id: f"{item.version}:{tag}"
            for item, tag in verified
            if isinstance(item, Note) and item.body is UNLOADED
        }
        known = self._snapshot_bodies(held) if held else {}

        def sealed() -> Iterator[snapshot.Entry]:
            """Every verified item's entry, a note held without its body given the body
            found above or read from its envelope (a slice at a time); one that cannot be
            read stops the sealing."""
            for start in range(0, len(verified), BODIES_PER_READ):
                part = verified[start : start + BODIES_PER_READ]
                unread = [
                    i
                    for i, _ in part
                    if isinstance(i, Note) and i.body is UNLOADED and i.id not in known
                ]
                bodies = {n.id: body for n, body in self.bodies_of(unread)}
                for item, tag in part:
                    if isinstance(item, Note) and item.body is UNLOADED:
                        body = known.pop(item.id, None)
                        item = with_body(item, bodies[item.id] if body is None else body)
                    yield entry(item, tag)

        try:
            snapshot.write(
                self.path,
                self._snapshot_key(),
                self.vault_id,
                self.store.master_id,
                sealed(),
                head,
            )
        except OSError:
            return  # a full disk: the next unlock just opens every envelope again
        self._unsnapped = 0
        self._snap_old = self._head_given_up = False

    def _snapshot_bodies(self, wanted: dict[str, str]) -> dict[str, str]:
        """The bodies the snapshot on disk holds for notes at the very versions `wanted`
        names (id -> "op id:version tag", as its entries write them), its bodies' part read
        a message at a time (about 1 MiB, each authenticated in order); the others are left
        out, as are all when it is gone, does not open or holds its bodies otherwise."""
        found: dict[str, str] = {}
        listing = snapshot.load_listing(*self._snapshot_where())
        stream = listing[3] if listing is not None else None
        if listing is None or stream is None:
            return found
        try:
            same = {e[0] for e in listing[0] if wanted.get(e[0]) == e[2]}
            del listing  # (the entries: let go before the bodies come)
            while same and not stream.done:
                try:
                    pairs = stream.next()
                except ValueError:
                    break  # (the rest from their envelopes)
                for item_id in same.intersection(pairs):
                    found[item_id] = pairs[item_id]
                same.difference_update(pairs)
        finally:
            stream.close()
        return found

    def _fill_bodies(self) -> bool:
        """Give the notes loaded without their bodies their bodies, from the same snapshot read
        whole (before sealing a new one); False if some could not be (it changed since)."""
        found = snapshot.load(
            self.path, self._snapshot_key(), self.vault_id, keys.mk_id(bytes(self._mk))
        )
        for item_id, _, version, _, payload in found[0] if found else ():
            cached = self._items.get(item_id)
            if self._bodiless.get(item_id) != version or not isinstance(cached, Note):
                continue
            op_id = version.partition(":")[0]
            self._items[item_id] = Note.from_payload(item_id, payload, op_id, cached.conflict)
            del self._bodiless[item_id]
        return not self._bodiless

    # --- the bodies, read after the list (bodies="later") -------------------------------------

    @property
    def bodies_pending(self) -> int:
        """How many notes are still held without their bodies (at least 1 while the listing
        is still to be read: `finish_listing`, which this does not wait for: the app asks on
        its interface's thread)."""
        if self._put_off is not None:
            return max(1, len(self._bodiless))
        self._settle_bodies()
        return len(self._bodiless)

    def _settle_bodies(self) -> None:
        """The last notes without their bodies can get them otherwise than through
        `load_bodies` (one shown and read whole, a pin, another process's change): the end of
        the loading (`_bodies_done`: the early folds dropped, the epoch moved) must follow
        then too, or the app never searches the bodies again."""
        if self._put_off is not None:
            return  # (the listing brings its notes without their bodies first)
        if self._fill_later and not self._bodiless and not self._bodies_told:
            with self._lock:
                if not self._bodiless and not self._bodies_told:
                    self._bodies_done()

    def load_bodies(self, notes: int = BODIES_PER_SLICE) -> int:
        """Give some of the notes held without their bodies their bodies: one message of the
        snapshot the list came from (about 1 MiB of bodies), or, once it has none left (or
        could not be read), `notes` of them read whole from the store. Returns how many are
        still without. The snapshot is decrypted outside the cache's lock, which is held only
        to put the bodies in, so the app's other work waits at most that long."""
        self.finish_listing()
        pairs: dict[str, str] = {}
        with self._stream_lock:
            stream = self._body_stream
            if stream is not None:
                with contextlib.suppress(ValueError):  # (then the rest come from the store)
                    pairs = stream.next()
                if stream.done:
                    self._body_stream = None
        # Each body folded for search outside the lock (the notes as they are now; a note
        # changed meanwhile is not folded: it was read whole, and its fold is made from that).
        items, bodiless = self._items, self._bodiless
        read = [
            (cached, body)
            for item_id, body in pairs.items()
            if isinstance(cached := items.get(item_id), Note) and cached.body is UNLOADED
        ]
        folds = [(note, note_fold(note, body)) for note, body in read]
        # (Outside the lock: a sink takes its own, which is held while it asks for the notes.)
        for sink in list(self._body_sinks):
            sink(read)
        del read
        from_store: list[tuple[Note, str]] = []
        with self._lock:
            bodiless = self._bodiless
            if pairs:
                self._index.put_folds(
                    (note.id, doc)
                    for note, doc in folds
                    if note.id in bodiless
                    and isinstance(now := items.get(note.id), Note)
                    and now.version == note.version  # (a fold is of a version: `_corpus_of`)
                )
                for item_id in pairs:
                    bodiless.pop(item_id, None)
            elif bodiless and stream is None:
                from_store = self._read_whole(list(itertools.islice(bodiless, notes)))
            if not bodiless and not self._bodies_told:
                self._bodies_done()
            left = len(bodiless)
        for sink in list(self._body_sinks) if from_store else ():
            sink(from_store)
        return left

    def finish_bodies(self) -> None:
        """bodies="later": every body read (and folded, and given to the body sinks) now, if
        some are still to come; otherwise nothing (a vault opened without its bodies keeps
        them unread). For a view made of every body that is asked for meanwhile."""
        if self._fill_later:
            self.load_all_bodies()

    def load_all_bodies(self) -> None:
        """Every note's body, now (what needs them all: a search that must be whole, links,
        an export). In slices, so a lock taken meanwhile waits a slice, not the whole."""
        self.finish_listing()
        while self._bodiless and self.load_bodies(BODIES_PER_SLICE * 5):
            pass

    def _read_whole(self, item_ids: list[str]) -> list[tuple[Note, str]]:
        """These bodiless notes read whole from the store (callers hold the lock); one the
        store has moved on from is read again by a refresh, as `_whole` does. With
        bodies="later" each is folded and stays without its body: returned with it, for the
        body sinks (called by the caller once it let go of the lock)."""
        bodiless, items = self._bodiless, self._items
        folded: list[tuple[Note, str]] = []
        rows = {r.item_id: r for r in self.store.items_by_id(item_ids)}
        filled: dict[str, Item] = {}
        moved = False
        for item_id in item_ids:
            row = rows.get(item_id)
            if row is None or row.key != self._claims.get(item_id) or row.kind != "note":
                self._claims.pop(item_id, None)
                moved = True
                continue
            try:
                payload = self.open_op(row)
                if is_erased(payload):
                    raise CorruptItemError(f"note {short(item_id)}: its current version was erased")
            except VaultError as exc:
                self.corrupt[item_id] = str(exc)
                items.pop(item_id, None)
                bodiless.pop(item_id, None)
                continue
            note = Note.from_payload(item_id, payload, row.op_id, row.conflict)
            del bodiless[item_id]
            cached = items.get(item_id)
            if self._fill_later and isinstance(cached, Note) and cached.body is UNLOADED:
                # (the same version: its row's claims are the ones it was verified with)
                self._index.put(cached, note.body)  # folded; the note stays without it
                folded.append((cached, note.body))
                continue
            filled[item_id] = note
        items.update(filled)
        if moved:
            self._seen_version = -1
            self.refresh()
            for item_id in item_ids:  # never asked twice: a write of it still reads its body
                bodiless.pop(item_id, None)  # from its version (its body is UNLOADED)
        return folded

    def _bodies_done(self) -> None:
        """Every note holds its body again: the search folds made meanwhile (titles alone, for
        the notes without a body) are dropped, and whoever shows the notes reads them anew."""
        self._close_body_stream()
        self._bodiless = {}  # (an emptied dict keeps its table: 100,000 slots)
        # The lists lined up meanwhile (notes without a body by their titles); each note's
        # fold is kept: folds are made of bodies only (`SearchIndex.put`, `_corpus_of`).
        self._index.drop_lists()
        self.bodies_epoch += 1
        self._bodies_told = True

    def _close_body_stream(self) -> None:
        with self._stream_lock:
            stream, self._body_stream = self._body_stream, None
        if stream is not None:
            stream.close()

    def _body_of(self, note: Note) -> str:
        """The body of the version `note` is (for writing a change to a note held without its
        body): the cache's, when it holds that version whole, else that version's envelope."""
        cached = self._items.get(note.id)
        if isinstance(cached, Note) and cached.version == note.version and cached.body:
            return cached.body  # (UNLOADED is falsy: only a body read is taken)
        with self._recent_lock:
            body = self._recent.get((note.id, note.version))
        if body is not None and note.version:
            return body
        op = self.store.op(note.version) if note.version else None
        if op is None or op.item_id != note.id or op.kind != "note" or op.deleted:
            raise CorruptItemError(
                f"note {short(note.id)}: the version to change could not be read", item_id=note.id
            )
        payload = self.open_op(op)
        if is_erased(payload):
            raise CorruptItemError(f"note {short(note.id)}: the version to change was erased")
        body = payload.get("body")
        return body if type(body) is str else ""

    def recent_body(self, note: Note, body: str) -> None:
        """Keep `note`'s body, read from its envelope, among the last few read
        (`RECENT_BODIES`): drawn again or opened next, it is not read again."""
        if not note.version:
            return
        with self._recent_lock:
            recent = self._recent
            recent[(note.id, note.version)] = body
            recent.move_to_end((note.id, note.version))
            while len(recent) > RECENT_BODIES:
                recent.popitem(last=False)

    def bodies_of(self, notes: Iterable[Note]) -> Iterator[tuple[Note, str]]:
        """Each note with its body, in the order given: its own when it holds it, else read
        from the envelope of its version (`BODIES_PER_READ` a query), so a reader of every
        body (the link index, an export, sealing a snapshot) holds a slice of them at a
        time, never all. CorruptItemError for a version that cannot be read (as `whole`)."""
        given = iter(notes)
        while part := list(itertools.islice(given, BODIES_PER_READ)):
            unread = [n for n in part if n.body is UNLOADED]
            bodies = self._read_bodies(unread) if unread else {}
            for note in part:
                if note.body is not UNLOADED:
                    yield note, note.body
                else:
                    found = bodies.get(note.id)
                    yield note, found if found is not None else self._body_of(note)

    def _read_bodies(self, notes: list[Note]) -> dict[str, str]:
        """The bodies of these notes, by id, of those whose version is the one the store
        names now (one query for them all), each verified against its claims as it opens;
        the others are left out (`_body_of` reads one by its version)."""
        rows = {r.item_id: r for r in self.store.items_by_id([n.id for n in notes])}
        bodies: dict[str, str] = {}
        for note in notes:
            row = rows.get(note.id)
            if row is None or row.op_id != note.version or row.deleted or row.kind != "note":
                continue
            try:
                payload = self.open_op(row)
            except VaultError:
                continue
            if is_erased(payload):
                continue
            body = payload.get("body")
            bodies[note.id] = body if type(body) is str else ""
        return bodies

    def _unfolded_bodies(self, notes: list[Note]) -> dict[str, str]:
        """The search index's reader: the bodies of notes held without them and not folded,
        but for those still to come from `load_bodies` (searched by their titles alone
        meanwhile, a partial search). Callers hold the lock."""
        wanted = [n for n in notes if n.id not in self._bodiless]
        bodies = self._read_bodies(wanted) if wanted else {}
        for note in wanted:
            if note.id not in bodies:
                with contextlib.suppress(VaultError):  # (searched by its title alone)
                    bodies[note.id] = self._body_of(note)
        return bodies

    def _whole(self, item_id: str) -> None:
        """A note loaded without its body (`bodies=False`) read whole: its verified version
        decrypted from the store. Callers hold the lock and have refreshed."""
        if item_id in self._bodiless:
            self._read_whole([item_id])

    def refresh(self) -> bool:
        """Bring the cache up to date with the store; only changed items are decrypted.
        Returns whether anything changed."""
        if self._put_off is not None:
            self.finish_listing()  # (which ends with a refresh)
        with self._lock:
            version = self.store.data_version()
            if version == self._seen_version:
                return False
            states, prepared = self._first_states, self._first_prepared
            self._first_states = self._first_prepared = None
            moved = None  # None: every item is compared with its state
            if states is None:
                states, moved = self._item_states()
                prepared = None
            self._states = states
            changed = False
            for item_id in self._items.keys() - states.keys():  # (a set difference, in C)
                del self._items[item_id]
                self._claims.pop(item_id, None)
                self._bodiless.pop(item_id, None)
                self._index.forget(item_id)
                changed = True
            for item_id in [i for i in self.corrupt if i not in states and i not in self._dead]:
                del self.corrupt[item_id]
            stale = []
            if moved is not None:  # and what is not in the cache (deleted here, or refused)
                moved = [*moved, *(i for i in states if i not in self._items)]
            compare: Iterable[str] = states if moved is None else dict.fromkeys(moved)
            if prepared is not None and self._snap_tags:
                vouched, replaced = self._vouch(states, prepared)
                changed |= replaced
                compare = [i for i in states if i not in vouched]
            for item_id in compare:
                state = states.get(item_id)
                if state is None:
                    continue
                cached = self._items.get(item_id)
                if cached is None or not self._fresh(item_id, state):
                    stale.append(item_id)
                elif isinstance(cached, Note | Notebook) and cached.conflict != state.conflict:
                    self._items[item_id] = dataclasses.replace(cached, conflict=state.conflict)
                    changed = True
            self._snap_tags.clear()  # each entry is used at most once, at the first load
            prefetched = self._prefetched or {}
            self._prefetched = None  # good for the first load only
            ready = [
                prefetched[i]
                for i in stale
                if i in prefetched and prefetched[i][0].key == states[i].key
            ]
            fetched = {r[0].item_id for r in ready}
            rows = ready + [
                (row, None)
                for row in self.store.items_by_id([i for i in stale if i not in fetched])
            ]
            for row, sealed in rows:
                if row.deleted or row.kind not in KIND_TYPES:
                    continue
                try:
                    if sealed is None:
                        sealed = parse_op(row.claims, row.envelope)
                    if isinstance(sealed, VaultError):
                        raise sealed
                    payload = open_sealed_op(self._items_key, self.vault_id, sealed)
                    if is_erased(payload):
                        raise CorruptItemError(
                            f"{row.kind} {short(row.item_id)}: its current version was erased "
                            "(tampered)",
                            item_id=row.item_id,
                        )
                except VaultError as exc:  # tampered, corrupt, or written by a newer version
                    self.corrupt[row.item_id] = str(exc)
                    self._items.pop(row.item_id, None)
                    self._claims.pop(row.item_id, None)
                    self._bodiless.pop(row.item_id, None)
                    continue
                self.corrupt.pop(row.item_id, None)
                self._bodiless.pop(row.item_id, None)
                self._items[row.item_id] = KIND_TYPES[row.kind].from_payload(
                    row.item_id, payload, row.op_id, row.conflict
                )
                self._claims[row.item_id] = row.key
                self._tags.pop(row.item_id, None)
                changed = True
            changed |= self._verify_conflicts(states)
            self._seen_version = version
            return changed

    # The live items' rows as the last refresh read them (no envelopes: claims only), and their
    # (id, version, fork) as the index gave them, when read (`_item_states`).
    _states: dict[str, ItemRow] | None = None
    _heads: set[tuple[str, str, int]] | None = None

    def _item_states(self) -> tuple[dict[str, ItemRow], list[str] | None]:
        """The store's live items (`Store.item_states`), and the items whose shown version or
        fork moved since the last refresh (None: compare them all), whose rows alone are read
        again: after another process's commit, one pass over the index's (id, version, fork)
        instead of joining every item to its operation and comparing every claim (at 10,000
        notes, most of the time a kept-open vault took to see one note added elsewhere).

        An operation's claims never change once written (only its envelope, at a rekey or a
        purge), so an item at the same version has the same row; and the last refresh left
        each such item decrypted with those claims (the vault's own writes move the version;
        what it deletes or refuses is compared again, as it is not in the cache). A cache told
        to compare everything again (`_seen_version` -1: a rekey, writes rolled back) does."""
        last, before = self._states, self._heads
        if last is None or self._snap_tags or self._seen_version < 0:
            self._heads = None
            return self.store.item_states(self._kinds, envelopes=bool(self._snap_tags)), None
        sql = "SELECT item_id, op_id, conflict FROM items WHERE deleted = 0"
        kinds: tuple[str, ...] = ()
        if self._kinds is not None:
            kinds = tuple(sorted(self._kinds))
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
        heads = self._heads = set(self.store.query(sql, kinds))
        if before is None:
            before = {(i, row.op_id, int(row.conflict)) for i, row in last.items()}
        moved = [item_id for item_id, _, _ in heads - before]
        states = dict(last)
        for item_id, _, _ in before - heads:
            states.pop(item_id, None)  # gone, or moved (read again below)
        for row in self.store.items_by_id(moved):
            if not row.deleted and (self._kinds is None or row.kind in self._kinds):
                states[row.item_id] = dataclasses.replace(row, envelope=None)
        return states, moved

    _first_prepared: dict[str, Any] | None = None  # (HistoryScan.prepared, for `_vouch`)

    _dead: frozenset[str] = frozenset()  # refused items that are not live: no head, or a
    # deletion that does not verify

    def _fresh(self, item_id: str, state: ItemRow) -> bool:
        """Is the cached item the verified content of the operation the store now names, with
        the same claims? (From the snapshot: the claims tag it was sealed with.)"""
        key = state.key
        if self._claims.get(item_id) == key:
            return True
        tag = self._snap_tags.get(item_id)
        if tag is None:
            return False
        if tag != (state.tag or version_tag(self.vault_id, state.claims, state.envelope)):
            return False
        self._claims[item_id] = key
        self._tags[item_id] = tag
        return True

    def _vouch(self, states: dict[str, ItemRow], prepared: dict[str, Any]) -> tuple[Any, bool]:
        """`_fresh` of every snapshot entry at once, at the first refresh: the entries whose
        version tag is the one the scan computed for the head the store names now take that
        head's claims. Compared as whole dicts, or else as (item id, tag) pairs, in C: not a
        Python step per note (a tenth of what followed the KDF at 10,000 notes). Their
        conflict flag follows the store's. Returns the items vouched for (the rest are
        compared one by one, as `_fresh` does) and whether any item changed. The scan's tags
        are of live heads only, so every item vouched for is in `states` (a full view:
        `_kinds` is None when a snapshot is read)."""
        snap_tags, tags, keys = self._snap_tags, prepared["tags"], prepared["keys"]
        vouched: Any
        if snap_tags == tags:  # the snapshot is current (the usual case)
            self._claims.update(keys)
            self._tags.update(snap_tags)
            vouched = snap_tags.keys()
        else:
            vouched = set(map(itemgetter(0), snap_tags.items() & tags.items()))
            self._claims.update({i: keys[i] for i in vouched})
            self._tags.update({i: snap_tags[i] for i in vouched})
        changed = False
        for item_id in (self._snap_conflicts ^ prepared["conflicts"]) & vouched:
            cached, state = self._items.get(item_id), states[item_id]
            if isinstance(cached, Note | Notebook) and cached.conflict != state.conflict:
                self._items[item_id] = dataclasses.replace(cached, conflict=state.conflict)
                changed = True
        return vouched, changed

    def _verify_conflicts(self, states: dict[str, ItemRow]) -> bool:
        """Every version of a forked item is verified, not only the one shown: a row added to
        the history (a forged version or deletion) or one whose parents were rewritten (which
        turns an older version into a head) makes a fork, and must not pass unnoticed. Forks
        are rare and short-lived, so this costs little."""
        changed = False
        for item_id in [i for i, s in states.items() if s.conflict and i in self._items]:
            for head in self.store.history(item_id):
                if head.claims in self._heads_checked:
                    continue
                try:
                    open_op(self._items_key, self.vault_id, head.claims, head.envelope)
                except VaultError as exc:
                    self.corrupt[item_id] = str(exc)
                    self._items.pop(item_id, None)
                    self._claims.pop(item_id, None)
                    self._bodiless.pop(item_id, None)
                    changed = True
                    break
                self._heads_checked.add(head.claims)
        return changed

    def _verify_deletions(self, headless: set[str], deleted: list[ItemRow]) -> None:
        """An item whose current version is a deletion is gone only if that deletion is sealed:
        a tombstone row written into the store without the key is refused here. Items with no
        head at all stay reported too (`refresh` forgets only what a live item replaced)."""
        dead = set(headless)
        for row in deleted:
            if self._kinds is not None and row.kind not in self._kinds:
                continue
            op = self.store.op(row.op_id)
            try:
                if op is None or op.claims != row.claims:
                    raise CorruptItemError(f"item {short(row.item_id)} changed while opening")
                open_op(self._items_key, self.vault_id, op.claims, op.envelope)
            except VaultError as exc:
                self.corrupt[row.item_id] = str(exc)
                dead.add(row.item_id)
        self._dead = frozenset(dead)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Many changes as one transaction (an import): one fsync instead of one per change,
        and all or nothing: if the block fails, none of it is kept and the cache forgets it.
        Keep batches short; the store is locked while one is open."""
        with self._lock:
            applied = self._applied
            outermost = not self.store.in_transaction
            try:
                with self.store.transaction():
                    yield
            except BaseException:
                self._seen_version = -1  # drop what the rolled-back writes put in the cache
                self.refresh()
                raise
            # Every operation the batch committed is one this cache applied as it wrote it,
            # and nothing else was committed since the cache was current: it is current now,
            # and the next read need not compare every item with the store (one full scan per
            # batch made importing 100,000 notes quadratic).
            last = self.store.last_write
            if (
                outermost
                and last is not None
                and last[0] == self._seen_version
                and self.store.last_write_ops == self._applied - applied
            ):
                self._seen_version = last[1]

    def seal_op(
        self,
        kind: str,
        item_id: str,
        payload: dict[str, Any] | None,
        parents: Iterable[str],
        *,
        op_id: str | None = None,
        items_key: bytes | None = None,
    ) -> Op:
        """A new operation written on this device, sealed with its claims: a version of the
        item (`payload`) or its deletion (None)."""
        claims = Claims(
            op_id or crypto.random_id(),
            item_id,
            kind,
            tuple(parents),
            payload is None,
            self.store.device_id,
        )
        key = items_key if items_key is not None else self._items_key
        envelope = seal_op(key, self.vault_id, claims, payload)
        return Op(
            claims.op_id, item_id, kind, claims.parents, claims.deleted, envelope, claims.device
        )

    def open_op(self, op: Op | ItemRow) -> dict[str, Any]:
        """Verify an operation's envelope against what its row claims and open it (a deletion
        or an erased version opens to a payload with no content; see vault.sealing.envelope)."""
        return open_op(self._items_key, self.vault_id, op.claims, op.envelope)

    def erasures(self, ops: Iterable[Op]) -> list[tuple[str, str]]:
        """(envelope, op id) of sealed erasures replacing these versions' content (purge)."""
        return [
            (seal_op(self._items_key, self.vault_id, op.claims, erased_payload(op.kind)), op.op_id)
            for op in ops
            if not op.deleted
        ]

    def _write(self, item: Item, parents: Iterable[str], op_id: str | None = None) -> Item:
        """Seal and store a new version of `item`; returns it as the cache now holds it.
        `op_id` is for changes every device makes alike (sync's repairs), which must not fork."""
        self.finish_listing()
        if isinstance(item, Note) and item.body is UNLOADED:
            # Read without its body (a listing, or before the app's fill reached it): the
            # change is to that version, so it keeps that version's body, never "".
            item = dataclasses.replace(item, body=self._body_of(item))
        kind = item.to_payload()["kind"]
        op = self.store.write(self.seal_op(kind, item.id, item.to_payload(), parents, op_id=op_id))
        row = self.store.item(item.id)
        if row is None or row.op_id != op.op_id:
            # A concurrent writer's version is the one shown (the store's display rule); the
            # cache follows the store, and both versions stay in the history.
            self.refresh()
            return self._items.get(item.id, item)
        if isinstance(item, Tag):
            written: Item = dataclasses.replace(item, version=op.op_id)
        else:
            written = dataclasses.replace(item, version=op.op_id, conflict=row.conflict)
        self._items[item.id] = written
        self._bodiless.pop(item.id, None)
        self._claims[item.id] = (op.op_id, op.kind, op.parents, op.deleted, op.device)
        self._tags.pop(item.id, None)
        self._applied += 1
        self._caught_up()
        return written

    def _caught_up(self) -> None:
        """After a write of ours that the cache has applied: if nothing else was committed
        since the cache was last brought up to date, it is up to date now, and the next read
        need not compare every item with the store (a full scan: 20 ms at 10,000 notes)."""
        with self._lock:
            last = self.store.last_write
            if last is not None and last[0] == self._seen_version:
                self._seen_version = last[1]

    def _parents(self, item: Item) -> list[str]:
        return [item.version] if item.version else []

    def _delete(self, item: Item, op_id: str | None = None) -> None:
        self.finish_listing()
        kind = item.to_payload()["kind"]
        op = self.store.write(self.seal_op(kind, item.id, None, self._parents(item), op_id=op_id))
        self._items.pop(item.id, None)
        self._bodiless.pop(item.id, None)
        self._claims.pop(item.id, None)
        self._index.forget(item.id)
        row = self.store.item(item.id)
        if row is not None and row.op_id == op.op_id:  # our deletion is what the store shows
            self._applied += 1
            self._caught_up()

    def add_body_sink(self, sink: Callable[[list[tuple[Note, str]]], None]) -> None:
        """Have `sink` called with each slice of notes and bodies `load_bodies` reads
        (bodies="later"), before they are let go: a view of every body made in that pass."""
        with self._lock:
            self._body_sinks.append(sink)

    def view(self, name: str, build: Callable[[], Any]) -> Any:
        """An object derived from the decrypted notes that keeps itself current (the link
        index, vault.notes.links), made once by `build` and dropped when the vault locks."""
        with self._lock:
            made = self._views.get(name)
            if made is None:
                made = self._views[name] = build()
            return made

    @property
    def generation(self) -> int:
        """A counter that moves whenever the items in memory change (refreshed from the store
        first, so edits from sync or another process count): views derived from the notes,
        such as links and backlinks (`vault.notes.links`), are rebuilt only when it moves."""
        with self._lock:
            self.refresh()
            return self._items.generation

    def _derive(self, name: str, kind: type[Item]) -> dict[str, Any]:
        """Every item of `kind` by id, rebuilt only after the items changed (callers hold the
        lock and have refreshed). Callers must not change the dict they get."""
        generation = self._items.generation_of(kind)
        cached = self._derived.get(name)
        if cached is None or cached[0] != generation:
            cached = (generation, {i.id: i for i in self._items.values() if isinstance(i, kind)})
            self._derived[name] = cached
        return cached[1]


def _with_body(note: Note, body: str) -> Note:
    """`note` with `body` (a copy: notes are frozen and shared), built as `from_payload` does."""
    return with_body(note, body)
