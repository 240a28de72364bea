"""Notebooks of the same path, made apart on two devices, become one.

Two devices that each create "Projects/Garden" offline make two notebooks (ids are random), and
both would stay for ever. After each sync's merges, every group of live notebooks with the same
parent and the same name (case-insensitive, as `ensure_notebook` matches) is folded into the one
that `ensure_notebook` picks (the oldest; the smaller id on a tie): the others' notes and
sub-notebooks move into it, then the others are deleted.

Every device makes the same repair, so its operations have ids derived from what they change
(the item, the version changed, the notebook kept): two devices that repair the same group
write one version between them, never a fork. Nothing is repaired while an item involved has
versions in conflict (an edit there would grow the conflict); a later sync does it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from vault.notes.model import Note, Notebook
from vault.notes.vault import Vault
from vault.sealing import crypto

# Nested duplicates surface one level at a time (merging two parents makes their same-named
# children siblings), so a run repeats; a path is rarely deeper than a handful of levels.
_MAX_ROUNDS = 16


def repair_op_id(item_id: str, version: str, keeper: str) -> str:
    """The id of the version that moves `item_id` (at `version`) into notebook `keeper`, or
    deletes it when it is the duplicate itself: the same on every device."""
    data = f"{item_id}:{version}:{keeper}".encode("ascii")
    return crypto.blake2b(data, person=crypto.Label.NOTEBOOK_MERGE, size=16).hex()


def merge_same_path_notebooks(vault: Vault) -> int:
    """Fold same-path notebooks together; returns how many duplicates were removed."""
    removed = 0
    for _ in range(_MAX_ROUNDS):
        groups: dict[tuple[str | None, str], list[Notebook]] = defaultdict(list)
        for nb in vault.notebooks():
            groups[(nb.parent, nb.name.casefold())].append(nb)
        duplicates = [g for g in groups.values() if len(g) > 1]
        if not duplicates:
            break
        done = sum(_fold(vault, group) for group in duplicates)
        if not done:
            break  # every group waits on a conflict
        removed += done
        vault.refresh()
    return removed


def _fold(vault: Vault, group: list[Notebook]) -> int:
    keeper = min(group, key=lambda nb: (nb.created, nb.id))
    folded = 0
    for dup in (nb for nb in group if nb is not keeper):
        # (bodies: `_write` keeps the body of the version it moves)
        notes = [n for n in vault.all_notes(bodies=False) if n.notebook == dup.id]
        children = [nb for nb in vault.notebooks() if nb.parent == dup.id]
        if any(item.conflict for item in (dup, keeper, *notes, *children)):
            continue
        for item in (*notes, *children):
            moved: Note | Notebook = (
                dataclasses.replace(item, notebook=keeper.id)
                if isinstance(item, Note)
                else dataclasses.replace(item, parent=keeper.id)
            )
            op_id = repair_op_id(item.id, item.version, keeper.id)
            if not vault.store.has_op(op_id):
                vault._write(moved, [item.version], op_id)
        op_id = repair_op_id(dup.id, dup.version, keeper.id)
        if not vault.store.has_op(op_id):
            vault._delete(dup, op_id)
        folded += 1
    return folded
