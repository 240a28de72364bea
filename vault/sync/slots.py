"""This device's key slots in the folder (`keys/<device>/<hash>.slot`), kept current for
`vault clone` (docs/SYNC.md, "Key slots").

Only this device writes under `keys/<its id>/`, but anyone with access to the folder can put
something there. So a file there is deleted only when this device can tell it wrote those very
bytes: their hash is one it recorded publishing (`sync.slots`), or, for slots published before
that record existed, they are a slot of this vault's master key carrying the id of one of this
device's own slots (a password change keeps the id). Anything else stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vault.errors import RemoteError, StorageError, VaultError
from vault.sealing import keys
from vault.storage.store import Store
from vault.sync import layout
from vault.sync.layout import content_hash
from vault.sync.remote import RemoteFolder


@dataclass
class Published:
    """The outcome: what this device now has published, and what it could not do."""

    digests: dict[str, int] = field(default_factory=dict)  # digest -> size, for sync.slots
    warnings: list[str] = field(default_factory=list)


def publish_slots(
    remote: RemoteFolder, store: Store, me: str, recorded: dict[str, int]
) -> Published:
    want = {}
    slots = store.slots()
    damaged = list(store.damaged_slots)
    for slot in slots:
        data = slot.to_json()
        want[content_hash(data)] = data
    own_ids = {s.slot_id for s in slots}
    out = Published(digests={d: len(b) for d, b in want.items()})
    if damaged:
        # A slot here does not read (store.slots skips it): the copy published from it may be
        # the only good one left (a recovery slot). Nothing published is deleted meanwhile.
        names = ", ".join(name for name, _ in damaged[:3])
        out.warnings.append(
            f"key slot {names} on this device is damaged: this device's published key slots "
            "were left as they are (restore the keys folder from a backup, or `vault passwd`)"
        )
    try:
        entries = remote.list_files(me, layout.KEYS_DIR)
    except RemoteError as exc:
        out.warnings.append(f"this device's key slots were not published: {exc}")
        out.digests = dict(recorded)
        return out
    present = set()
    for entry in entries:
        digest = layout.parse_slot_name(entry.name)
        if digest is None:
            continue  # not a name this device writes: not its to delete
        if digest in want and entry.size == len(want[digest]):
            present.add(digest)
            continue
        if damaged:
            if digest in recorded:
                out.digests[digest] = recorded[digest]  # still ours, to clear once mended
            continue

        def ours(data: bytes, digest: str = digest) -> bool:
            return content_hash(data) == digest and (
                digest in recorded or _own_old_slot(data, store.master_id, own_ids)
            )

        try:
            left = remote.delete(me, entry.name, layout.KEYS_DIR, check=ours)
        except (RemoteError, StorageError) as exc:
            left = str(exc)
        if left is not None and digest in recorded:
            out.digests[digest] = recorded[digest]  # still ours to clear later
    for digest, data in want.items():
        if digest in present:
            continue
        try:
            remote.write(me, layout.slot_file_name(digest), data, layout.KEYS_DIR)
        except (RemoteError, StorageError) as exc:
            out.warnings.append(f"a key slot of this device was not published: {exc}")
    return out


def _own_old_slot(data: bytes, master_id: str, own_ids: set[str]) -> bool:
    try:
        slot = keys.Slot.from_json(data, "a published key slot")
    except VaultError:
        return False
    return slot.master_id == master_id and slot.slot_id in own_ids
