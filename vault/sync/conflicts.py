"""Forks in an item's history: merging them on their own where that is safe, and letting a
person choose where it is not.

A fork is an item with more than one head (two devices, or two local processes, saved from the
same version). `auto_merge` folds the heads into one version:

- a deletion next to an edit keeps the edit (the merge names the deletion as a parent, so the
  decision is recorded and every device makes the same one);
- notes merge field by field against their common ancestor taken from history: text three-way
  (vault.notes.merge.merge3), tags as sets, a field only one side changed takes that side's value;
  when partial delivery left several equally new common ancestors (a criss-cross), against
  the merge of those (a virtual base, as git's recursive strategy builds);
- edits that overlap (the same lines, or a title renamed two ways) are left as a conflict:
  both versions stay, nothing is dropped, and `list_conflicts` / `resolve` take it from there.

Merges are deterministic: the merge of a given set of heads has the same op id on every device
(a hash of the item and the parents) and the same content (only history goes in: no clock, no
device id, no "mine"), so two devices merging the same fork produce one version, not a
merge-of-merges race. A device merges only when it holds every ancestor of the heads, so a
half-delivered history can never make it compute a different merge under the same id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vault.errors import (
    AmbiguousError,
    CorruptItemError,
    InvalidInputError,
    NotFoundError,
    VaultError,
)
from vault.notes import attachments
from vault.notes.merge import merge3, merge_sets
from vault.notes.model import KIND_TYPES, Item, Note, Notebook, now_ms
from vault.notes.vault import Vault
from vault.sealing import crypto
from vault.sealing.envelope import is_erased, short
from vault.storage.store import Op

MINE, THEIRS, BOTH = "mine", "theirs", "both"
CHOICES = (MINE, THEIRS, BOTH)
_MERGE_PERSON = b"vault merge op"
_MISSING: Any = object()


def merge_op_id(item_id: str, parents: Iterable[str]) -> str:
    """The id of the merge of `parents`: the same on every device that makes it."""
    data = (item_id + ":" + ",".join(sorted(parents))).encode("ascii")
    return crypto.blake2b(data, person=_MERGE_PERSON, size=16).hex()


# --- history ---------------------------------------------------------------------------------


def _ancestors(history: dict[str, Op], start: str) -> set[str] | None:
    """`start` and everything before it; None when part of that history has not arrived."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        op_id = stack.pop()
        if op_id in seen:
            continue
        op = history.get(op_id)
        if op is None:
            return None
        seen.add(op_id)
        stack.extend(op.parents)
    return seen


def _best_common(history: dict[str, Op], ancestry: list[set[str]]) -> str | None:
    """The common ancestor closest to the heads (the one with the longest history; op id
    breaks ties), or None when the heads share no history."""
    common = set.intersection(*ancestry) if ancestry else set()
    if not common:
        return None
    # Only the newest common ancestors can win: every ancestor of an ancestor is in `common`
    # too, so one with a child in `common` has strictly less history than that child. Counting
    # the history of each of the others alone keeps this linear in the history's length
    # (counting it for every common ancestor took seconds for a note saved thousands of times).
    named = {p for c in common for p in history[c].parents}
    newest = common - named
    depth = {c: len(_ancestors(history, c) or ()) for c in newest}
    return max(newest, key=lambda c: (depth[c], c))


# Criss-cross merges nest rarely more than once or twice; past this depth the newest common
# ancestor with the longest history stands in, as it did before virtual bases.
_MAX_VIRTUAL_DEPTH = 8


def _merge_base(
    vault: Vault, kind: str, history: dict[str, Op], ancestry: list[set[str]], depth: int = 0
) -> dict[str, Any] | None:
    """What the heads whose ancestries are given are merged against.

    Usually their newest common ancestor. Partial delivery can leave several equally new ones
    (criss-cross: each device merged another's edit before it saw the other's merge of it), and
    a merge from any one of them alone sees the other's changes on both sides, as an overlap.
    Then, as git's recursive strategy does, the base is the merge of those ancestors, taken in op
    id order, each step merged against its own base found the same way: the same virtual base
    on every device, from history alone. None when the heads share no history.
    """
    common = set.intersection(*ancestry) if ancestry else set()
    if not common:
        return None
    named = {p for c in common for p in history[c].parents}
    newest = sorted(common - named)
    if len(newest) == 1 or depth >= _MAX_VIRTUAL_DEPTH:
        pick = _best_common(history, ancestry)
        assert pick is not None
        return _base_payload(vault, history[pick])
    merged = _base_payload(vault, history[newest[0]])
    merged_ancestry = _ancestors(history, newest[0]) or set()
    for other in newest[1:]:
        other_ancestry = _ancestors(history, other) or set()
        base = _merge_base(vault, kind, history, [merged_ancestry, other_ancestry], depth + 1)
        # An overlap inside the base keeps the earlier side's text (merge3's rule), which is
        # as deterministic as the order; the heads' merge then decides on real changes only.
        merged, _ = merge_payloads(kind, base, merged, _base_payload(vault, history[other]))
        merged_ancestry |= other_ancestry
    return merged


def _base_payload(vault: Vault, op: Op) -> dict[str, Any]:
    return {} if op.deleted else _payload(vault, op)


# --- merging payloads ------------------------------------------------------------------------


def _scalar(base: Any, a: Any, b: Any) -> tuple[Any, bool]:
    if a == b:
        return a, False
    if a == base:
        return b, False
    if b == base:
        return a, False
    return a, True


def _merge_field(kind: str, key: str, base: Any, a: Any, b: Any) -> tuple[Any, bool]:
    """One field of a three-way merge: (value, conflict). _MISSING marks an absent field."""
    if a == b:
        return a, False
    if key == "modified" and isinstance(a, int) and isinstance(b, int):
        return max(a, b), False
    if key == "created" and isinstance(a, int) and isinstance(b, int):
        return min(a, b), False
    if kind == "note" and key == "body" and isinstance(a, str) and isinstance(b, str):
        result = merge3(base if isinstance(base, str) else "", a, b)
        return result.text, result.conflict
    if kind == "note" and key == attachments.FIELD:
        merged, conflict = attachments.merge_lists(
            None if base is _MISSING else base,
            [] if a is _MISSING else a,
            [] if b is _MISSING else b,
        )
        return (merged if merged else _MISSING), conflict
    if kind == "note" and key == "tags" and isinstance(a, list) and isinstance(b, list):
        return merge_sets(base if isinstance(base, list) else [], a, b), False
    if kind == "note" and key == "trashed":
        # Trash is reversible, so when both sides changed it the note stays in the trash (with
        # every edit merged into it) rather than either side's action being lost.
        value, conflict = _scalar(base, a, b)
        if not conflict:
            return value, False
        trashed = [t for t in (a, b) if isinstance(t, int)]
        return (min(trashed) if trashed else None), False
    return _scalar(base, a, b)


def merge_payloads(
    kind: str, base: dict[str, Any] | None, a: dict[str, Any], b: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Three-way merge of two versions of an item: (merged payload, conflict)."""
    base = base or {}
    merged: dict[str, Any] = {}
    conflict = False
    for key in sorted(set(a) | set(b)):
        value, clash = _merge_field(
            kind, key, base.get(key, _MISSING), a.get(key, _MISSING), b.get(key, _MISSING)
        )
        if kind == "tag" and clash:
            # Two devices registered one tag (same keyed id) spelled in two cases: any choice
            # every device makes alike will do, and a is the head with the smaller op id.
            value, clash = a.get(key, _MISSING), False
        conflict |= clash
        if value is not _MISSING:
            merged[key] = value
    return merged, conflict


# --- automatic merging -----------------------------------------------------------------------


@dataclass(frozen=True)
class MergeOutcome:
    merged: tuple[str, ...] = ()  # item ids whose fork was merged
    conflicts: tuple[str, ...] = ()  # item ids left for a person to resolve
    waiting: tuple[str, ...] = ()  # item ids whose history has not fully arrived


def auto_merge(vault: Vault) -> MergeOutcome:
    """Merge every forked item that can be merged safely (see the module docstring)."""
    merged, conflicts, waiting = [], [], []
    items_key = crypto.subkey(vault.master_key, crypto.Label.ITEMS)
    for item_id in sorted(vault.store.conflicted_ids()):
        status, op = _merge_item(vault, items_key, item_id)
        if status == "merged" and op is not None:
            vault.store.ingest([op])
            merged.append(item_id)
        elif status == "conflict":
            conflicts.append(item_id)
        elif status == "waiting":
            waiting.append(item_id)
    if merged:
        vault.refresh()
    return MergeOutcome(tuple(merged), tuple(conflicts), tuple(waiting))


def _merge_item(vault: Vault, items_key: bytes, item_id: str) -> tuple[str, Op | None]:
    store = vault.store
    heads = store.heads(item_id)
    if len(heads) < 2:
        return "done", None
    history = {op.op_id: op for op in store.history(item_id)}
    ancestry = []
    for head in heads:
        anc = _ancestors(history, head.op_id)
        if anc is None:
            return "waiting", None
        ancestry.append(anc)
    parents = tuple(sorted(h.op_id for h in heads))
    op_id = merge_op_id(item_id, parents)
    kind = heads[0].kind
    if store.has_op(op_id):
        return "done", None
    try:
        # A merge names every head as a parent, so every head must be what it claims: a
        # forged row (a deletion written into the store without the key) is never merged
        # into the history, and so never reaches another device.
        for head in heads:
            vault.open_op(head)
    except VaultError:
        return "conflict", None
    live = sorted((h for h in heads if not h.deleted), key=lambda h: h.op_id)
    if not live:
        return "merged", vault.seal_op(
            kind, item_id, None, parents, op_id=op_id, items_key=items_key
        )
    # Heads fold in op id order, each merged against its own base with what is folded so far:
    # with three or more heads, the one ancestor common to all of them is usually far older
    # than what each pair shares, and merging against it would see shared edits as overlaps.
    by_id = {h.op_id: anc for h, anc in zip(heads, ancestry, strict=True)}
    try:
        result = _payload(vault, live[0])
        folded = set(by_id[live[0].op_id])
        for head in live[1:]:
            base = _merge_base(vault, kind, history, [folded, by_id[head.op_id]])
            result, conflict = merge_payloads(kind, base, result, _payload(vault, head))
            if conflict:
                return "conflict", None
            folded |= by_id[head.op_id]
    except (CorruptItemError, _NoContent):
        return "conflict", None
    return "merged", vault.seal_op(kind, item_id, result, parents, op_id=op_id, items_key=items_key)


class _NoContent(Exception):
    """A version whose sealed content was erased (purged) on this device."""


def _payload(vault: Vault, op: Op) -> dict[str, Any]:
    payload = vault.open_op(op)
    if is_erased(payload):
        raise _NoContent(op.op_id)
    return payload


# --- conflicts for a person ------------------------------------------------------------------


@dataclass(frozen=True)
class ConflictVersion:
    """One competing version of an item."""

    version: str  # op id
    device: str  # the device that wrote it
    mine: bool  # written on this device (see Conflict.mine)
    deleted: bool
    item: Item | None  # decrypted; None for a deletion or content that does not open


@dataclass(frozen=True)
class Conflict:
    """An item with versions that could not be merged on their own. `versions[0]` is mine:
    the version written on this device, or, when both or neither were, the one shown now."""

    item_id: str
    kind: str
    versions: tuple[ConflictVersion, ...]
    base: Item | None  # the last version both sides share, when there is one

    @property
    def mine(self) -> ConflictVersion:
        return self.versions[0]

    @property
    def theirs(self) -> tuple[ConflictVersion, ...]:
        return self.versions[1:]

    @property
    def title(self) -> str:
        """The conflict's name: the same on every device (the versions' order is not: each
        device lists its own first), so of the live version with the largest op id."""
        for v in sorted(self.versions, key=lambda v: v.version, reverse=True):
            if isinstance(v.item, Note):
                return v.item.title
            if isinstance(v.item, Notebook):
                return v.item.name
        return short(self.item_id)


def list_conflicts(vault: Vault) -> list[Conflict]:
    """Every item whose versions wait for a person, most recently modified first."""
    result = [get_conflict(vault, item_id) for item_id in vault.store.conflicted_ids()]
    found = [c for c in result if c is not None]
    return sorted(found, key=lambda c: (-_modified(c), c.item_id))


def _modified(conflict: Conflict) -> int:
    return max((getattr(v.item, "modified", 0) for v in conflict.versions), default=0)


def get_conflict(vault: Vault, item_id: str) -> Conflict | None:
    store = vault.store
    heads = store.heads(item_id)
    if len(heads) < 2:
        return None
    history = {op.op_id: op for op in store.history(item_id)}
    ancestry = {h.op_id: _ancestors(history, h.op_id) for h in heads}
    complete = [a for a in ancestry.values() if a is not None]
    common = set.intersection(*complete) if len(complete) == len(heads) else set()
    me = store.device_id

    def written_here(head: Op) -> bool:
        branch = (ancestry[head.op_id] or {head.op_id}) - common
        return any(history[o].device == me for o in branch if o in history)

    here = [h for h in heads if written_here(h)]
    row = store.item(item_id)
    shown = row.op_id if row is not None else ""
    if len(here) == 1:
        mine = here[0]
    else:
        mine = next((h for h in heads if h.op_id == shown), max(heads, key=lambda h: h.op_id))
    ordered = [mine, *sorted((h for h in heads if h is not mine), key=lambda h: h.op_id)]
    versions = tuple(
        ConflictVersion(h.op_id, h.device, h is mine, h.deleted, _item(vault, h)) for h in ordered
    )
    base_id = _best_common(history, complete) if len(complete) == len(heads) else None
    base = _item(vault, history[base_id]) if base_id else None
    return Conflict(item_id, heads[0].kind, versions, base)


def _item(vault: Vault, op: Op) -> Item | None:
    if op.deleted or op.kind not in KIND_TYPES:
        return None
    try:
        payload = vault.open_op(op)
    except VaultError:
        return None
    if is_erased(payload):
        return None
    return KIND_TYPES[op.kind].from_payload(op.item_id, payload, op.op_id)


def resolve(vault: Vault, item_id: str, choice: str, version: str | None = None) -> list[Item]:
    """Settle a conflict: keep mine, keep theirs (`version` picks one when several devices
    disagree), or keep both (notes only: theirs becomes a separate note). The kept version is
    saved as a new version whose parents are all the competing ones, so the decision travels
    to every device. Returns what was written: the kept item, then any copies."""
    if choice not in CHOICES:
        raise InvalidInputError(f"resolve with one of: {', '.join(CHOICES)}")
    conflict = get_conflict(vault, item_id)
    if conflict is None:
        raise NotFoundError(f"{short(item_id)} has no conflicting versions")
    keep = _pick(conflict, version) if choice == THEIRS else conflict.mine
    copies: list[ConflictVersion] = []
    if choice == BOTH:
        if conflict.kind != "note":
            raise InvalidInputError(
                f"a {conflict.kind} conflict is settled by keeping one version (mine or theirs)"
            )
        copies = [v for v in conflict.theirs if isinstance(v.item, Note)]
    parents = [v.version for v in conflict.versions]
    written: list[Item] = []
    if keep.deleted or keep.item is None:
        if not keep.deleted:
            raise CorruptItemError(
                f"{conflict.kind} {short(item_id)}: that version does not open; keep another"
            )
        vault.store.write(vault.seal_op(conflict.kind, item_id, None, parents))
    else:
        item = keep.item
        if isinstance(item, Note | Notebook):
            newest = max(getattr(v.item, "modified", 0) for v in conflict.versions)
            item = dataclasses.replace(item, modified=max(now_ms(), newest + 1))
        op = vault.store.write(vault.seal_op(conflict.kind, item_id, item.to_payload(), parents))
        written.append(dataclasses.replace(item, version=op.op_id))
    vault.refresh()
    notebooks = {nb.id for nb in vault.notebooks()}
    for number, other in enumerate(copies, start=1):
        note = other.item
        assert isinstance(note, Note)
        # Several copies (three devices or more) are numbered, so no two notes share a title.
        label = "conflicted copy" if len(copies) == 1 else f"conflicted copy {number}"
        written.append(
            vault.create_note(
                f"{note.title} ({label})",
                note.body,
                notebook=note.notebook if note.notebook in notebooks else None,
                tags=note.tags,
                pinned=note.pinned,
            )
        )
    return written


def blocks_edit(vault: Vault, item_id: str) -> bool:
    """Whether an item must be settled by a person before it can be edited.

    An item with several heads is merged first if it can be (a fork from another process, or
    one the last sync has not merged yet), and a fork whose history has not all arrived shows
    this device's own version, which an edit continues safely. Only a real conflict blocks:
    an edit would go on one version only, and the conflict would grow with every save.
    """
    row = vault.store.item(item_id)
    if row is None or not row.conflict:
        return False
    items_key = crypto.subkey(vault.master_key, crypto.Label.ITEMS)
    status, op = _merge_item(vault, items_key, item_id)
    if status == "merged" and op is not None:
        vault.store.ingest([op])
        vault.refresh()
        return False
    return status == "conflict"


def _pick(conflict: Conflict, version: str | None) -> ConflictVersion:
    theirs = conflict.theirs
    if version:
        matches = [v for v in conflict.versions if v.version.startswith(version.lower())]
        if len(matches) != 1:
            raise InvalidInputError(
                f"no single version of {short(conflict.item_id)} starts with '{version}'"
            )
        return matches[0]
    if len(theirs) == 1:
        return theirs[0]
    ids = ", ".join(v.version[:8] for v in theirs)
    raise AmbiguousError(
        f"{short(conflict.item_id)} has {len(theirs)} other versions ({ids}); name one"
    )
