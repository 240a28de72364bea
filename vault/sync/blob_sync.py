"""Attachments' bytes through the sync folder (SYNC.md, "Attachments").

A note's list of attachments travels with the note's operations; the bytes travel apart, as
the sealed blob files themselves (vault.storage.blobs), under `blobs/<device>/<name>.blob`:

- **publish**: a blob this device holds that some live note uses, and that no device folder
  offers whole (exactly its sealed length), is copied into this device's own folder; once it
  published a blob, only its own folder's copy counts (another's may be right-sized garbage);
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
from typing import Any

from vault.errors import IntegrityError, RemoteError, StorageError, VaultError
from vault.notes import attachments
from vault.notes.vault import Vault
from vault.storage.blobs import SUFFIX, BlobRef, BlobStore, is_blob_name, sealed_lengths
from vault.sync import layout
from vault.sync.folder_io import Dir, FolderRefused, Hasher, Unreadable
from vault.sync.remote import RemoteFolder
from vault.sync.state import REMOTE

AREA = "blobs"
PUBLISHED = "sync.blobs"  # meta: {blob name: content hash of the file this device wrote}
REJECTED = "sync.blobs_rejected"  # meta: {device/name: [size, mtime_ns]} of copies that failed
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
    for note in attachments.live_versions(vault):
        for entry in attachments.entries(note):
            refs.setdefault(entry.blob, entry.ref)
    return refs


Offer = tuple[str, int, int]  # (device, size, mtime_ns) of a file under blobs/<device>/


def _offers(top: Dir, report: BlobReport) -> dict[str, list[Offer]]:
    """blob name -> the regular files offering it under blobs/<device>/ (lstat only)."""
    offers: dict[str, list[Offer]] = {}
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
                offers.setdefault(e.name[: -len(SUFFIX)], []).append((device, e.size, e.mtime_ns))
    return offers


def _load(vault: Vault, key: str) -> dict[str, Any]:
    raw = vault.store.meta(key)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _published(vault: Vault) -> dict[str, str]:
    return {k: v for k, v in _load(vault, PUBLISHED).items() if isinstance(v, str)}


def _rejected(vault: Vault) -> dict[str, list[int]]:
    return {k: v for k, v in _load(vault, REJECTED).items() if isinstance(v, list)}


def _save(vault: Vault, key: str, value: dict[str, Any]) -> None:
    with vault.store.transaction() as db:
        db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, sort_keys=True, separators=(",", ":"))),
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
        store.receive(sub.stream(ref.name + SUFFIX, max(sealed_lengths(ref.size))), ref)


def fetch_one(
    top: Dir,
    store: BlobStore,
    ref: BlobRef,
    offers: list[Offer],
    report: BlobReport,
    rejected: dict[str, list[int]] | None = None,
) -> bool:
    """Try every device that offers the blob whole; True once one copy verified. A copy that
    fails its check is remembered in `rejected` (by device, name, size and time) and not read
    again while it stays as it is."""
    expected = sealed_lengths(ref.size)  # one per version: the blob's own is not known yet
    for device, size, mtime_ns in offers:
        if size not in expected:
            continue  # still arriving (a daemon writes in place), or not this blob
        where = f"{device}/{ref.name}"
        if rejected is not None and rejected.get(where) == [size, mtime_ns]:
            continue
        try:
            _fetch_from(top, device, ref, store)
            return True
        except Unreadable:
            continue
        except IntegrityError as exc:
            report.warnings.append(f"attachment file from device {device[:8]}: {exc}")
            if rejected is not None:
                rejected[where] = [size, mtime_ns]
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
    rejected = _rejected(vault)
    rejected_before = dict(rejected)
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
                offered = {f"{d}/{n}" for n, found in offers.items() for d, _, _ in found}
                for where in [w for w in rejected if w not in offered]:
                    del rejected[where]  # gone: a new copy there is read afresh
                # fetch what notes use and this device lacks
                fetch_budget = budget
                for name in sorted(set(refs) - held):
                    ref = refs[name]
                    if fetch_budget <= 0:
                        report.missing += 1
                        continue
                    if fetch_one(top, store, ref, offers.get(name, []), report, rejected):
                        report.fetched += 1
                        fetch_budget -= max(sealed_lengths(ref.size))
                        held.add(name)
                    else:
                        report.missing += 1
                # publish what notes use, this device holds, and no device offers whole
                own: Dir | None = None
                try:
                    publish_budget = budget
                    for name in sorted(set(refs) & held):
                        ref = refs[name]
                        expected = sealed_lengths(ref.size)  # a name is of one version
                        whole = [d for d, size, _ in offers.get(name, []) if size in expected]
                        # Another device's offer is trusted to spare an upload only until this
                        # device has published the blob itself: once it has, only its own copy
                        # counts (a peer could delete it and plant garbage of the same size).
                        if me in whole or (whole and name not in published):
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
                        except (OSError, StorageError) as exc:
                            why = exc.strerror if isinstance(exc, OSError) else str(exc)
                            report.warnings.append(f"attachment not sent: {why}")
                            continue
                        published[name] = hasher.hexdigest()
                        changed = True
                        report.published += 1
                        publish_budget -= max(expected)
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
            _save(vault, PUBLISHED, published)
        if rejected != rejected_before:
            _save(vault, REJECTED, rejected)
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


def _fetch_on_demand(vault: Vault, ref: BlobRef) -> bool:
    from vault.config import Config

    try:
        config_remote = str(Config.load().get("sync.remote") or "")
    except VaultError:
        config_remote = ""
    return fetch_now(vault, ref, config_remote)


attachments.FETCHERS.append(_fetch_on_demand)
