"""A master key rotation that travels through the sync folder (docs/SYNC.md, "Key rotation").

`vault rekey` (without `--new-folder`) keeps a rotation record (vault.sealing.rotation: the new
key sealed under the old one, and the old under the new) in the vault's own store, and every
sync publishes it as `keys/<device>/<old>-<new>.rot`. On each run a device gathers the records
(the folder's and its own), opens every one it can with a key it holds, and so learns the
*key ring*: every key of this vault's chain it can reach. The ring decides three things:

- the folder is this vault's if its header names a key of the ring (the key it was set up
  with; it never changes);
- the *tip*: from the header's key, follow the records, taking at each key the record whose
  new key id is the smallest (so two devices that rotated at once end on the same key); a
  device not on the tip follows: its password slot is wrapped anew around the tip's key
  (with the KEK kept from its unlock: no password asked), the recovery slot comes from the
  record, and every operation is sealed anew under it (Vault.switch_key);
- files and operations sealed under an older key of the ring are still read: the older keys
  are kept for reading only, and what is read is sealed anew under the current key at once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from vault.errors import IntegrityError, RemoteError, VaultError
from vault.notes.vault import Vault
from vault.sealing import crypto, keys
from vault.sealing.envelope import open_op, seal_op, short, upgrade_envelope
from vault.sealing.rotation import (
    MAX_BYTES,
    ROTATIONS,
    Record,
    add_record,
    folder_names,
    kept_records,
    name_verifies,
    parse_name_tag,
    parse_record,
    parse_record_name,
    record_name,
)
from vault.storage.store import Op
from vault.sync import layout
from vault.sync.remote import Entry, RemoteFolder, Unreadable

MAX_RECORDS = 64  # read per run: a folder full of forged records cannot make a run unbounded
# A folder in which a rotation was published says so: a program that cannot follow rotations
# (folder version 2) then refuses it ("upgrade vault") instead of syncing under an old key.
ROTATED_VERSION = 3
RESNAP = "sync.resnap"  # set by Vault.switch_key: write a snapshot under the new key


@dataclass
class KeyRing:
    """Every key of this vault's chain this device can reach, and the records that link them."""

    current: str
    keys: dict[str, bytes] = field(default_factory=dict)  # mk id -> key
    edges: dict[str, list[Record]] = field(default_factory=dict)  # old id -> records verified
    recovery: dict[str, keys.Slot] = field(default_factory=dict)  # record name -> its slot
    data: dict[str, bytes] = field(default_factory=dict)  # record name -> bytes (verified)
    problems: list[str] = field(default_factory=list)

    def path(self, root: str) -> list[Record]:
        """The records from `root` to the tip (smallest new key id first at each step)."""
        node, seen, out = root, {root}, []
        while True:
            nxt = sorted(
                (r for r in self.edges.get(node, []) if r.new not in seen), key=lambda r: r.new
            )
            if not nxt:
                return out
            out.append(nxt[0])
            node = nxt[0].new
            seen.add(node)

    def tip(self, root: str) -> str:
        path = self.path(root)
        return path[-1].new if path else root

    def older(self) -> list[bytes]:
        """The keys kept for reading only (all but the current one), in id order."""
        return [k for i, k in sorted(self.keys.items()) if i != self.current]


def build_ring(vault_id: str, current_mk: bytes, found: list[tuple[str, bytes]]) -> KeyRing:
    """Open every record reachable from the current key (forward with the old key, or back
    with the new one); both boxes of a record must open, or it is refused."""
    ring = KeyRing(keys.mk_id(current_mk), {keys.mk_id(current_mk): current_mk})
    parsed: dict[str, tuple[Record, bytes, str]] = {}
    for where, data in found:
        try:
            rec = parse_record(data, where)
        except VaultError as exc:
            ring.problems.append(f"{exc}; ignored")
            continue
        if rec.vault_id != vault_id:
            ring.problems.append(f"{where} is a key rotation record of another vault; ignored")
            continue
        parsed.setdefault(crypto.blake2b(data, size=16).hex(), (rec, data, where))
    pending = dict(parsed)
    while True:
        progress = False
        for digest, (rec, data, where) in list(pending.items()):
            if rec.old not in ring.keys and rec.new not in ring.keys:
                continue
            del pending[digest]
            progress = True
            try:
                if rec.old in ring.keys:
                    new_mk, slot = rec.open_forward(ring.keys[rec.old])
                    old_mk = rec.open_back(new_mk)
                else:
                    old_mk = rec.open_back(ring.keys[rec.new])
                    new_mk, slot = rec.open_forward(old_mk)
            except IntegrityError:
                ring.problems.append(
                    f"{where}: key rotation record does not verify (tampered, or made without "
                    "this vault's key); ignored"
                )
                continue
            ring.keys.setdefault(rec.old, old_mk)
            ring.keys.setdefault(rec.new, new_mk)
            ring.edges.setdefault(rec.old, []).append(rec)
            ring.recovery[rec.name] = slot
            ring.data[rec.name] = data
        if not progress:
            break
    for _rec, _, where in pending.values():
        ring.problems.append(
            f"{where}: key rotation record opens with no key this device holds (an earlier "
            "one not arrived yet, or forged); ignored for now"
        )
    return ring


def read_ring(
    remote: RemoteFolder,
    store_value: str | None,
    vault_id: str,
    current_mk: bytes,
    known: Collection[str] = (),
) -> KeyRing:
    """The key ring from the records this vault keeps and those in the folder (`keys/*/…rot`,
    each at most MAX_BYTES).

    A published copy's name carries a tag made with one of the record's keys and bound to the
    device folder it sits in (vault.sealing.rotation.folder_names). A tagged name is read only
    when it is exactly the name a key of the ring makes for that folder, and only while the
    record it names is not verified yet; names are checked again after each pass that adds
    keys. So forged files, and real names copied into other folders, are never read, and no
    number of them hides a real record. Names without tags (folders written before them) are
    read as before: up to MAX_RECORDS for each device in `known` (devices whose files this
    vault verified), read first, and MAX_RECORDS shared by all the others."""
    found = [(f"this vault's record {n}", d) for n, d in kept_records(store_value).items()]
    listings = _listings(remote)
    order = sorted(listings, key=lambda d: (d not in known, d))
    shared = MAX_RECORDS
    for device in order:
        plain = [e.name for e in listings[device] if parse_name_tag(e.name) is None]
        if device in known:
            _read_records(remote, device, plain, found, MAX_RECORDS)
        elif shared > 0:
            shared -= _read_records(remote, device, plain, found, shared)
    ring = build_ring(vault_id, current_mk, found)
    tried: set[tuple[str, str]] = set()
    while True:
        wanted = [
            (device, e.name)
            for device in order
            for e in listings[device]
            if (device, e.name) not in tried
            and parse_name_tag(e.name) is not None
            and record_name(*(parse_record_name(e.name) or ("", ""))) not in ring.data
            and name_verifies(e.name, vault_id, device, ring.keys)
        ]
        if not wanted:
            return ring
        for device, name in wanted:
            tried.add((device, name))
            _read_records(remote, device, [name], found)
        ring = build_ring(vault_id, current_mk, found)


def _listings(remote: RemoteFolder) -> dict[str, list[Entry]]:
    """Each device's record files by name (names that parse, sizes within MAX_BYTES)."""
    try:
        devices = remote.key_devices()
    except RemoteError:
        return {}
    listings = {}
    for device in devices:
        try:
            entries = remote.list_files(device, layout.KEYS_DIR)
        except RemoteError:
            continue
        listings[device] = sorted(
            (e for e in entries if parse_record_name(e.name) and e.size <= MAX_BYTES),
            key=lambda e: e.name,
        )
    return listings


def _read_records(
    remote: RemoteFolder,
    device: str,
    names: list[str],
    found: list[tuple[str, bytes]],
    budget: int = 1,
) -> int:
    """Read `device`'s records of `names`, in order, into `found` until `budget` were read
    (what cannot be read, a FIFO or a symlink, is skipped and not counted); how many were."""
    read = 0
    for name in names:
        if read >= budget:
            break
        try:
            data = remote.read(device, name, layout.KEYS_DIR)
        except Unreadable:
            continue
        read += 1
        found.append((f"keys/{short(device)}/{name}", data))
    return read


def folder_signature(remote: RemoteFolder) -> str:
    """The records' listing alone (no read): a digest of names, sizes and times, all of them
    (a cut listing would miss a change behind a folder of forged records)."""
    listing = []
    try:
        devices = remote.key_devices()
    except RemoteError:
        return ""
    for device in sorted(devices):
        try:
            entries = remote.list_files(device, layout.KEYS_DIR)
        except RemoteError:
            continue
        listing += [
            f"{device}/{e.name}|{e.size}|{e.mtime_ns}"
            for e in sorted(entries, key=lambda e: e.name)
            if parse_record_name(e.name) is not None and e.size <= MAX_BYTES
        ]
    return crypto.blake2b("\n".join(listing).encode("utf-8"), size=16).hex()


def publish(
    remote: RemoteFolder, me: str, kept: dict[str, bytes], ring: KeyRing, vault_id: str
) -> list[str]:
    """Put every record this vault keeps into `keys/<me>/`, under a tagged name for each of its
    keys the ring holds. Records are never deleted (a device that comes back after months needs
    them); a copy of ours that is missing or differs from the record (damaged, or replaced by
    someone else) is written again. Warnings for what could not be put."""
    if not kept:
        return []
    try:
        present = {e.name: e.size for e in remote.list_files(me, layout.KEYS_DIR)}
    except RemoteError as exc:
        return [f"key rotation records were not published: {exc}"]
    warnings = []
    for kept_name, data in sorted(kept.items()):
        ids = parse_record_name(kept_name)
        names = folder_names(vault_id, me, ring.keys, *ids) if ids else []
        for name in names or [kept_name]:
            if present.get(name) == len(data) and _holds(remote, me, name, data):
                continue
            try:
                remote.write(me, name, data, layout.KEYS_DIR)
            except VaultError as exc:
                warnings.append(f"a key rotation record was not published: {exc}")
    return warnings


def _holds(remote: RemoteFolder, device: str, name: str, data: bytes) -> bool:
    try:
        return remote.read(device, name, layout.KEYS_DIR) == data
    except Unreadable:
        return False


def follow(vault: Vault, ring: KeyRing, root: str) -> str | None:
    """Move this vault to the ring's tip. Returns a line for the report: what happened, or
    why this device could not follow yet (None when it is on the tip already)."""
    path = ring.path(root)
    tip = path[-1].new if path else root
    if tip == ring.current:
        return None
    if tip not in ring.keys:
        return None
    new_mk = ring.keys[tip]
    last = path[-1] if path else None
    pw = vault.rewrapped_password_slot(new_mk)
    if pw is None:
        return (
            f"another device rotated the master key (device {short(last.device) if last else '?'}"
            "); this device follows it when it syncs after being opened with its password "
            "(not an unlocked session or the recovery key); until then it reads the new key's "
            "changes and writes under the old one, which the others still read"
        )
    slots = [pw]
    taken = {s.slot_id for s in vault.store.slots()} | {pw.slot_id}
    recovery = ring.recovery.get(last.name) if last else None
    if recovery is not None and recovery.slot_id not in taken:
        slots.append(recovery)
    value = vault.store.meta(ROTATIONS)
    for rec in path:
        value = add_record(value, ring.data[rec.name])
    vault.switch_key(new_mk, slots, {ROTATIONS: value})
    return (
        f"followed the master key rotation made on device {short(last.device) if last else '?'}"
        ": this device's password still opens the vault; the recovery key shown on that "
        "device replaces the old one"
    )


def reseal(old_mk: bytes, new_items_key: bytes, vault_id: str, op: Op) -> Op:
    """An operation read from a file sealed under an older key, sealed anew under the current
    one (after verifying it under the old key). Left as it is if it does not verify: the
    engine then refuses it as usual."""
    old_items = crypto.subkey(old_mk, crypto.Label.ITEMS)
    try:
        envelope = upgrade_envelope(old_items, vault_id, op.claims, op.envelope)
        payload = open_op(old_items, vault_id, op.claims, envelope)
    except VaultError:
        return op
    sealed = seal_op(new_items_key, vault_id, op.claims, None if op.deleted else payload)
    return Op(op.op_id, op.item_id, op.kind, op.parents, op.deleted, sealed, op.device)


def named_chain(remote: RemoteFolder, store_value: str | None, current: str) -> set[str]:
    """The key ids linked to `current` by the *names* of rotation records (the folder's and
    this vault's), without any key: for `vault remote set` and `remote show`, which run on a
    locked vault. Names prove nothing; the sync run checks the records themselves."""
    edges = [parse_record_name(n) for n in kept_records(store_value)]
    try:
        devices = remote.key_devices()
    except RemoteError:
        devices = []
    for device in devices:
        try:
            edges += [parse_record_name(e.name) for e in remote.list_files(device, layout.KEYS_DIR)]
        except RemoteError:
            continue
    pairs = [e for e in edges if e is not None][: MAX_RECORDS * 4]
    linked = {current}
    grew = True
    while grew:
        grew = False
        for old, new in pairs:
            if (old in linked) != (new in linked):
                linked |= {old, new}
                grew = True
    return linked
