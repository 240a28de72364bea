"""Attachments' bytes through the sync folder (SYNC.md, "Attachments").

A note's list of attachments travels with the note's operations; the bytes travel apart, as
the sealed blob files themselves (vault.storage.blobs), under `blobs/<device>/<name>.blob`:

- **publish**: a blob this device holds that some live note uses, and that no device folder
  offers whole (exactly its sealed length), is copied into this device's own folder;
- **fetch**: a blob some live note uses and this device lacks is copied from any device folder
  that offers it whole, checked completely (vault.storage.blobs.BlobStore.receive) and only
  then kept; one that is missing, short or damaged stays "not yet here" and is tried again;
- **collect**: a blob of this device's own folder that no live note uses any more is deleted,
  only if its bytes still hash to what this device wrote there (recorded in `sync.blobs`); then
  local blobs no note uses are removed (vault.notes.attachments.collect_garbage).

Every rule of the hostile folder applies (vault.sync.folder_io): nothing below the folder is
followed, only regular files are opened (O_NOFOLLOW|O_NONBLOCK, so a FIFO never blocks), a read
is bounded by the exact sealed length the sealed note gives, and nothing is deleted that this
device cannot prove it wrote. One run moves at most `budget` bytes each way; the rest waits
for the next run. Nothing here ever fails a sync: problems are warnings.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vault.errors import IntegrityError, RemoteError, StorageError, VaultError
from vault.notes import attachments
from vault.notes.vault import Vault
from vault.storage.blobs import SUFFIX, BlobRef, BlobStore, is_blob_name, sealed_length
from vault.sync import layout
from vault.sync.folder_io import Dir, FolderRefused, Hasher, Unreadable
from vault.sync.remote import RemoteFolder
from vault.sync.state import REMOTE

AREA = "blobs"
PUBLISHED = "sync.blobs"  # meta: {blob name: content hash of the file this device wrote}
RUN_BUDGET = 1 << 30  # bytes copied each way per run
MAX_BLOB_ENTRIES = 200_000  # entries one device's blob folder may hold
MAX_BLOB_FILE = 1 << 40  # read to check one of our own files before deleting it


@dataclass
class BlobReport:
    published: int = 0
    fetched: int = 0
    removed: int = 0  # this device's files in the folder
    freed: int = 0  # local blobs no note uses any more
    missing: int = 0  # blobs a note uses that are on no device yet ("not yet here")
    warnings: list[str] = field(default_factory=list)


def wanted_refs(vault: Vault) -> dict[str, BlobRef]:
    """Every blob a live note (trash included; every head of a note in conflict) uses."""
    refs: dict[str, BlobRef] = {}
    notes = vault.all_notes()
    for note in notes:
        for entry in attachments.entries(note):
            refs.setdefault(entry.blob, entry.ref)
    for note in notes:
        if note.conflict:
            for head in vault.store.heads(note.id):
                if head.deleted:
                    continue
                try:
                    payload = vault.open_op(head)
                except VaultError:
                    continue
                other = note.from_payload(note.id, payload)
                for entry in attachments.entries(other):
                    refs.setdefault(entry.blob, entry.ref)
    return refs


def _offers(top: Dir, report: BlobReport) -> dict[str, list[tuple[str, int]]]:
    """blob name -> [(device, size)] of the regular files offered under blobs/<device>/."""
    offers: dict[str, list[tuple[str, int]]] = {}
    try:
        devices = [e.name for e in top.list(None) if layout.is_device_id(e.name)]
    except FolderRefused as exc:
        report.warnings.append(str(exc))
        return offers
    for device in devices:
        try:
            sub = top.sub(device)
        except FolderRefused as exc:
            report.warnings.append(str(exc))
            continue
        if sub is None:
            continue
        with sub:
            try:
                listed = sub.list(MAX_BLOB_ENTRIES)
            except FolderRefused as exc:
                report.warnings.append(str(exc))
                continue
        for e in listed:
            if e.regular and e.name.endswith(SUFFIX) and is_blob_name(e.name[: -len(SUFFIX)]):
                offers.setdefault(e.name[: -len(SUFFIX)], []).append((device, e.size))
    return offers


def _published(vault: Vault) -> dict[str, str]:
    raw = vault.store.meta(PUBLISHED)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if isinstance(v, str)} if isinstance(value, dict) else {}


def _save_published(vault: Vault, published: dict[str, str]) -> None:
    with vault.store.transaction() as db:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (PUBLISHED, json.dumps(published, sort_keys=True, separators=(",", ":"))),
        )


def _local_chunks(path: Path, hasher: Hasher) -> Iterator[bytes]:
    with open(path, "rb") as src:
        while data := src.read(1 << 20):
            hasher.update(data)
            yield data


def _fetch_from(top: Dir, device: str, ref: BlobRef, store: BlobStore) -> None:
    sub = top.sub(device)
    if sub is None:
        raise Unreadable("gone")
    with sub:
        store.receive(sub.stream(ref.name + SUFFIX, sealed_length(ref.size)), ref)


def fetch_one(
    top: Dir, store: BlobStore, ref: BlobRef, offers: list[tuple[str, int]], report: BlobReport
) -> bool:
    """Try every device that offers the blob whole; True once one copy verified."""
    expected = sealed_length(ref.size)
    for device, size in offers:
        if size != expected:
            continue  # still arriving (a daemon writes in place), or not this blob
        try:
            _fetch_from(top, device, ref, store)
            return True
        except Unreadable:
            continue
        except IntegrityError as exc:
            report.warnings.append(f"attachment file from device {device[:8]}: {exc}")
        except StorageError as exc:
            report.warnings.append(str(exc))
            return False
    return False


def run(vault: Vault, remote: RemoteFolder, *, budget: int = RUN_BUDGET) -> BlobReport:
    """Publish, fetch and collect (the module docstring says what each is)."""
    report = BlobReport()
    store = attachments.blob_store(vault)
    me = vault.store.device_id
    refs = wanted_refs(vault)
    held = store.names()
    published = _published(vault)
    changed = False
    try:
        with remote._root() as root:
            top = root.sub(AREA, create=bool(refs.keys() & held) or bool(published))
            if top is None:
                report.missing = len(set(refs) - held)
                report.freed = len(attachments.collect_garbage(vault))
                return report
            with top:
                offers = _offers(top, report)
                # fetch what notes use and this device lacks
                fetch_budget = budget
                for name in sorted(set(refs) - held):
                    ref = refs[name]
                    if fetch_budget <= 0:
                        report.missing += 1
                        continue
                    if fetch_one(top, store, ref, offers.get(name, []), report):
                        report.fetched += 1
                        fetch_budget -= sealed_length(ref.size)
                        held.add(name)
                    else:
                        report.missing += 1
                # publish what notes use, this device holds, and no device offers whole
                own: Dir | None = None
                try:
                    publish_budget = budget
                    for name in sorted(set(refs) & held):
                        ref = refs[name]
                        expected = sealed_length(ref.size)
                        if any(size == expected for _, size in offers.get(name, [])):
                            continue
                        if publish_budget <= 0:
                            break
                        if own is None:
                            own = top.sub(me, create=True)
                            if own is None:
                                break
                        hasher = layout.content_hasher()
                        try:
                            own.write_stream(name + SUFFIX, _local_chunks(store.path(name), hasher))
                        except FileExistsError:
                            continue  # a partial or foreign file under our name: left alone
                        except OSError as exc:
                            report.warnings.append(f"attachment not sent: {exc.strerror}")
                            continue
                        published[name] = hasher.hexdigest()
                        changed = True
                        report.published += 1
                        publish_budget -= expected
                    # collect this device's own files no note uses any more
                    gone = [n for n in published if n not in refs]
                    if gone and own is None:
                        own = top.sub(me)
                    for name in gone:
                        why = None
                        if own is not None:
                            why = own.unlink_if_digest(
                                name + SUFFIX,
                                MAX_BLOB_FILE,
                                layout.content_hasher(),
                                published[name],
                            )
                        if why is None:
                            del published[name]
                            changed = True
                            report.removed += 1
                    if own is not None:
                        own.remove_stale_temporaries(3600)
                finally:
                    if own is not None:
                        own.close()
    except (FolderRefused, RemoteError, StorageError) as exc:
        report.warnings.append(str(exc))
    finally:
        if changed:
            _save_published(vault, published)
    report.freed = len(attachments.collect_garbage(vault))
    return report


def fetch_now(vault: Vault, ref: BlobRef, config_remote: str = "") -> bool:
    """Fetch one blob from the sync folder now (a person asked for the file); False when no
    device offers it whole yet or there is no sync folder."""
    value = vault.store.meta(REMOTE) or config_remote
    if not value:
        return False
    report = BlobReport()
    store = attachments.blob_store(vault)
    with (
        contextlib.suppress(RemoteError, FolderRefused, StorageError),
        RemoteFolder(Path(value))._root() as root,
    ):
        top = root.sub(AREA)
        if top is None:
            return False
        with top:
            offers = _offers(top, report)
            return fetch_one(top, store, ref, offers.get(ref.name, []), report)
    return False
