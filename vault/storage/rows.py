"""The rows a store hands out: operations (`Op`), the current version of an item (`ItemRow`)
and what a scan of the history found (`HistoryScan`), with the SQL that reads them.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from vault.sealing.envelope import Claims


@dataclass(frozen=True)
class Op:
    """One saved version (or deletion) of one item."""

    op_id: str
    item_id: str
    kind: str
    parents: tuple[str, ...]
    deleted: bool
    envelope: str | None
    device: str
    seq: int = 0

    @functools.cached_property
    def claims(self) -> Claims:
        return Claims(self.op_id, self.item_id, self.kind, self.parents, self.deleted, self.device)


@dataclass(frozen=True)
class HistoryScan:
    """What `Store.scan_history` derived from the ops rows."""

    shown: dict[str, ItemRow]  # item id -> its shown head (envelope: its tail, or None)
    wrong: set[str]  # items whose index rows disagreed (rebuilt, unless the scan was told not to)
    headless: set[str]  # items with operations but no head
    tails: bool = False  # whether the shown heads carry their envelope's tail
    version: int = field(default=-1, compare=False)  # Store.data_version() before the reads
    found: dict[str, list[tuple]] = field(default_factory=dict, compare=False, repr=False)
    # every ops row's claims (op id, item, kind, parents as stored, deleted, device, tail)
    rows: list[tuple] = field(default_factory=list, compare=False, repr=False)
    count: int = field(default=0, compare=False)  # how many ops rows there are (kept)
    # What `prepare` derived from the rows, needing no key (unlocking has it made while the
    # KDF runs): "messages", each row's input to its commitment term (vault.storage.commitment),
    # "tags" and "keys", item id -> version tag and claims (ItemRow.key) of each live shown
    # head whose tag the scan computed, and "conflicts", the items whose heads are in conflict.
    prepared: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def prepare(self) -> HistoryScan:
        """Derive `prepared` (once; see there), then let go of `rows`, and of `found` unless
        the index needs rebuilding from it (`wrong`): nothing reads them after this, and at
        100,000 notes they held 60 MB while the notes were being decrypted. Returns the scan."""
        if not self.prepared:
            from vault.storage.commitment import ops_messages

            live = [(i, r) for i, r in self.shown.items() if r.tag and not r.deleted]
            self.prepared.update(
                messages=ops_messages(self.rows),
                tags={i: r.tag for i, r in live},
                keys={i: r.key for i, r in live},
                conflicts={i for i, r in self.shown.items() if r.conflict},
            )
            self.rows.clear()  # (in place: the scan is frozen)
            if not self.wrong:
                self.found.clear()
        return self


@dataclass(slots=True)
class ItemRow:
    """An item's current version as the index names it, with that operation's own row: the
    envelope, deleted flag, parents and device come from `ops`, never from `items`. (Not
    frozen: ten thousand are made at every unlock, and frozen ones cost twice as much.)"""

    item_id: str
    kind: str
    op_id: str
    envelope: str | None
    deleted: bool
    conflict: bool
    parents: tuple[str, ...] = ()
    device: str = ""
    tag: str = ""  # envelope.version_tag, when the scan that made this row computed it

    @property
    def key(self) -> tuple:
        """The claims as a plain tuple: cheap to compare (caches keep it)."""
        return (self.op_id, self.kind, self.parents, self.deleted, self.device)

    @property
    def claims(self) -> Claims:
        return Claims(self.op_id, self.item_id, self.kind, self.parents, self.deleted, self.device)


ONE_PARENT = re.compile(r'\["[0-9a-f]{32}"\]')


def parse_parents(text: object) -> tuple[str, ...]:
    """The parents column as stored; a value that is not a JSON list of strings (tampered)
    becomes a marker that no sealed claim can match, so the row is refused, never crashed on."""
    if text == "[]":
        return ()
    if isinstance(text, str) and ONE_PARENT.fullmatch(text):
        return (text[2:-2],)
    try:
        parents = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        parents = None
    if not isinstance(parents, list) or not all(isinstance(p, str) for p in parents):
        return ("(malformed)",)
    return tuple(parents)


def op_from_row(row: sqlite3.Row | tuple) -> Op:
    seq, op_id, item_id, kind, parents, deleted, envelope, device = row
    return Op(
        str(op_id),
        str(item_id),
        str(kind),
        parse_parents(parents),
        bool(deleted),
        envelope,
        str(device),
        seq,
    )


# The current version of each item: the index's choice, and that operation's own row.
ITEM_SELECT = (
    "SELECT i.item_id, i.kind, i.op_id, o.envelope, o.deleted, i.conflict, o.parents, o.device "
    "FROM items i JOIN ops o ON o.op_id = i.op_id"
)


# Kinds and device ids as the rows a cache keeps hold them (a cache keeps a row per item for
# as long as the vault is open): one string per value, not one per row. Not sys.intern (on
# Python 3.12 never freed); bounded, for a store whose rows were written to defeat it.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 4096


def shared_name(name: str) -> str:
    """`name` as the one string every row holds for it (see _NAMES)."""
    if len(_NAMES) < _NAMES_MAX:
        return _NAMES.setdefault(name, name)
    return _NAMES.get(name, name)


def item_row(r: tuple) -> ItemRow:
    kind = shared_name(r[1]) if type(r[1]) is str else r[1]
    return ItemRow(
        r[0], kind, r[2], r[3], bool(r[4]), bool(r[5]), parse_parents(r[6]), shared_name(str(r[7]))
    )


OP_COLUMNS = "seq, op_id, item_id, kind, parents, deleted, envelope, device"
