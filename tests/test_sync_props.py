"""Properties of the pieces sync is built on, checked with hypothesis.

- Three-way merge of item payloads: merging with an unchanged side takes the other side,
  merging a version with itself changes nothing, and whether two edits conflict does not
  depend on which side is "a".
- Applying operations is a set union: whatever order a device receives the same operations in
  (and however often), after its automatic merges it ends with the same versions, the same
  content and the same conflicts as every other device. This is what makes deterministic
  merge ids work: two devices merging one fork make one version, not two.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.notes.vault import Vault
from vault.sealing import crypto, keys
from vault.sealing.crypto import TEST_KDF
from vault.storage.store import Op, Store
from vault.sync import conflicts
from vault.sync.conflicts import auto_merge, merge_payloads

lines = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", ""]), max_size=6)
texts = lines.map(lambda ls: "".join(f"{line}\n" for line in ls))
tag_lists = st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4, unique=True)
notes = st.fixed_dictionaries(
    {
        "kind": st.just("note"),
        "title": st.sampled_from(["T", "U", "V"]),
        "body": texts,
        "tags": tag_lists,
        "pinned": st.booleans(),
        "notebook": st.none(),
        "created": st.integers(0, 10),
        "modified": st.integers(0, 10),
        "trashed": st.one_of(st.none(), st.integers(1, 5)),
    }
)


@given(notes, notes)
def test_merge_with_an_unchanged_side_takes_the_other(base: dict, other: dict) -> None:
    merged, conflict = merge_payloads("note", base, base, other)
    assert not conflict
    for key in ("title", "body", "tags", "pinned", "trashed"):
        assert merged[key] == other[key]


@given(notes, notes)
def test_merging_a_version_with_itself(base: dict, a: dict) -> None:
    assert merge_payloads("note", base, a, a) == (a, False)


@given(notes, notes, notes)
def test_conflict_does_not_depend_on_the_order(base: dict, a: dict, b: dict) -> None:
    _, ab = merge_payloads("note", base, a, b)
    _, ba = merge_payloads("note", base, b, a)
    assert ab == ba


# --- order independence ---------------------------------------------------------------------


def _replica(root: Path, name: str, source: Vault) -> Vault:
    """Another device of the same vault: same id and master key, its own store."""
    mk = source.master_key
    slot = keys.Slot.create(source.vault_id, keys.PASSWORD, mk, keys.Secret("pw"), TEST_KDF)
    store = Store.create(root / name, source.vault_id, crypto.random_id(), keys.mk_id(mk), [slot])
    return Vault(store, mk)


def _view(vault: Vault) -> dict[str, object]:
    vault.refresh()
    out: dict[str, object] = {}
    for row in vault.store.items(include_deleted=True):
        heads = vault.store.heads(row.item_id)
        content: object = None
        if len(heads) > 1:
            # a conflict: the same versions compete everywhere, each device shows its own first
            content = sorted(
                json.dumps(vault.open_op(h), sort_keys=True) for h in heads if not h.deleted
            )
        elif not row.deleted:
            content = vault.open_op(row)
            content.pop("modified", None)
        out[row.item_id] = (row.deleted, tuple(sorted(h.op_id for h in heads)), content)
    return out


def _all_ops(vault: Vault) -> list[Op]:
    return list(vault.store.all_ops())


actions = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from(["edit", "title", "purge"]),
        st.integers(0, 4),
    ),
    min_size=1,
    max_size=12,
)


def _scratch() -> tempfile.TemporaryDirectory[str]:
    """In memory where possible: this is about logic, and each example makes six stores."""
    shm = Path("/dev/shm")
    where = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return tempfile.TemporaryDirectory(dir=where, prefix="vault-props-")


@settings(max_examples=40)
@given(actions, st.randoms(use_true_random=False))
def test_any_arrival_order_converges(steps: list, rnd: random.Random) -> None:
    with _scratch() as scratch:
        _converges(Path(scratch), steps, rnd)


def _converges(root: Path, steps: list, rnd: random.Random) -> None:
    origin, _ = Vault.create(root / "origin", "pw", kdf=TEST_KDF, allow_weak_kdf=True)
    ids = [origin.create_note(f"n{i}", "one\ntwo\nthree\nfour\n").id for i in range(3)]
    devices = [origin, _replica(root, "d1", origin), _replica(root, "d2", origin)]
    for d in devices[1:]:
        d.store.ingest(_all_ops(origin))
    try:
        # Devices edit what they know; now and then one learns what another did.
        for device, note, action, line in steps:
            d = devices[device]
            d.refresh()
            current = {n.id: n for n in d.all_notes()}
            if ids[note] in current:
                n = current[ids[note]]
                if action == "edit":
                    body = n.body.splitlines()
                    body[line % len(body)] += f" d{device}"
                    d.update_note(n, body="\n".join(body) + "\n")
                elif action == "title":
                    d.update_note(n, title=f"{n.title}.{device}")
                else:
                    d.purge_note(n)
            if rnd.random() < 0.3:
                other = devices[rnd.randrange(3)]
                d.store.ingest(_all_ops(other))
        everything = {op.op_id: op for d in devices for op in _all_ops(d)}
        fresh = [_replica(root, f"fresh{k}", origin) for k in range(3)]
        for replica in fresh:
            ops = list(everything.values())
            rnd.shuffle(ops)
            for start in range(0, len(ops), 3):  # several deliveries, merging in between
                replica.store.ingest(ops[start : start + 3] + ops[: rnd.randrange(len(ops))])
                auto_merge(replica)
            auto_merge(replica)
        # Merges made with partial knowledge are operations too, and travel like any other:
        # once every device has every operation, all of them agree.
        for _ in range(2):
            union = {op.op_id: op for replica in fresh for op in _all_ops(replica)}
            for replica in fresh:
                replica.store.ingest(union.values())
                auto_merge(replica)
        views = [_view(replica) for replica in fresh]
        assert views[0] == views[1] == views[2]
        # Forks left are real conflicts (both sides changed the same thing), not leftovers.
        assert auto_merge(fresh[0]).waiting == ()
        devices += fresh
    finally:
        for d in devices:
            d.lock()


# --- the merge base ---------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[str, Op], list[str]]:
    """A random history (each version names up to three earlier ones) and 2-3 of its tips."""
    n = draw(st.integers(2, 24))
    ids = draw(st.permutations([f"{i:032x}" for i in range(n)]))  # op ids in random order
    history: dict[str, Op] = {}
    for i, op_id in enumerate(ids):
        parents = draw(st.lists(st.sampled_from(ids[:i]), max_size=3, unique=True)) if i else []
        history[op_id] = Op(op_id, "0" * 32, "note", tuple(parents), False, None, "0" * 32)
    heads = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=3, unique=True))
    return history, heads


@settings(max_examples=300)
@given(histories())
def test_the_merge_base_is_the_common_ancestor_with_the_longest_history(
    case: tuple[dict[str, Op], list[str]],
) -> None:
    # Every device must pick the same base however it computes it (SYNC.md, "Base").
    history, heads = case
    ancestry = [conflicts._ancestors(history, h) or set() for h in heads]
    common = set.intersection(*ancestry)
    expected = (
        max(common, key=lambda c: (len(conflicts._ancestors(history, c) or ()), c))
        if common
        else None
    )
    assert conflicts._best_common(history, ancestry) == expected


def test_a_fork_of_a_long_history_is_merged_without_walking_it_again_and_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, _ = Vault.create(tmp_path / "v", "pw", kdf=TEST_KDF, allow_weak_kdf=True)
    try:
        note = vault.create_note("Journal", "one\ntwo\n")
        for i in range(200):  # a note saved many times
            note = vault.update_note(note, body=f"one {i}\ntwo\n")
        vault.update_note(note, body=f"ONE {i}\ntwo\n")
        vault.update_note(note, body=f"one {i}\nTWO\n")  # from the same version: a fork
        walks = []
        real = conflicts._ancestors
        monkeypatch.setattr(
            conflicts, "_ancestors", lambda h, start: walks.append(start) or real(h, start)
        )
        assert auto_merge(vault).merged == (note.id,)
        assert len(walks) <= 4  # each head's history, and the base's: not every ancestor's
        assert vault.note(note.id).body == f"ONE {i}\nTWO\n"
    finally:
        vault.lock()


@settings(max_examples=40)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_every_device_reaches_every_key_and_the_same_tip(parents: list[int], rnd) -> None:
    """Rotations form a tree of keys (two devices may rotate the same key while apart). From
    whichever key a device holds, and whatever order the records arrive in, it reaches every
    key of the tree and computes the same tip: all devices end on one key."""
    from vault.sealing import rotation as records
    from vault.sync.rotation import build_ring

    vault_id = crypto.random_id()
    mks = [crypto.random_bytes(32) for _ in range(len(parents) + 1)]
    made = []
    for i, p in enumerate(parents):
        old, new = mks[p % (i + 1)], mks[i + 1]
        slot = keys.Slot.create(
            vault_id, keys.RECOVERY, new, keys.Secret(recovery=crypto.random_bytes(32))
        )
        made.append(records.make_record(vault_id, crypto.random_id(), old, new, slot))
    root = keys.mk_id(mks[0])
    tips = set()
    for mk in mks:
        order = list(made)
        rnd.shuffle(order)
        ring = build_ring(vault_id, mk, [(f"record {i}", d) for i, d in enumerate(order)])
        assert not ring.problems
        assert set(ring.keys) == {keys.mk_id(k) for k in mks}
        tips.add(ring.tip(root))
    assert len(tips) == 1
