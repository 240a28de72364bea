"""Attachments: files kept with a note, sealed as blobs (vault.storage.blobs).

A note's attachments are a field of its sealed payload (FORMAT.md, "Attachments"): a list of
entries naming each file (its name, media type and exact size) and the blob that holds its
bytes (the blob's name and key). So the list is sealed with the note, travels with the note's
versions through sync, merges like the note's other fields (vault.sync.conflicts) and goes
into backups with the note, while the bytes live once per content in `<vault>/blobs/`.

A device may know of an attachment before its bytes arrive (a joining device lists every
attachment at once and fetches the bytes from the sync folder when needed): such an attachment
is "not yet here" (`Attachment.present` is False), never an error that blocks the note.

The link form notes use in Markdown is `![alt](attachment:NAME)` for an image shown inline and
`[text](attachment:NAME)` for any other file, with NAME percent-encoded as a URL path segment
(`attachment_link`, `parse_attachment_link`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import stat
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from vault.errors import AttachmentMissing, InvalidInputError, NotFoundError, VaultError
from vault.notes.model import Note, now_ms
from vault.sealing import crypto
from vault.sealing.crypto import Label
from vault.sealing.envelope import short
from vault.storage.blobs import BlobRef, BlobStore, is_blob_name

if TYPE_CHECKING:
    from vault.notes.cache import ItemCache as Vault  # every layer of Vault above it will do

# How the bytes of an attachment not on this device are fetched when a person asks for them:
# the sync machinery registers one (vault.sync.blob_sync), so this module imports no sync code.
FETCHERS: list[Callable[[Any, BlobRef], bool]] = []

FIELD = "attachments"  # the note payload field
LINK_SCHEME = "attachment:"
MAX_NAME = 255  # characters
MAX_ATTACHMENTS = 10_000  # per note: a bound on what a (hostile) payload may make us list
DEFAULT_TYPE = "application/octet-stream"
# Blobs no note refers to are removed only when older than this: another process may have
# sealed one a moment ago and not yet written the note version that names it.
GC_GRACE_SECONDS = 15 * 60

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Attachment:
    """One file kept with a note, as a person sees it."""

    name: str
    size: int  # bytes
    media_type: str
    blob: str  # the blob's name (64 hex digits): equal blobs hold equal bytes
    present: bool  # the bytes are on this device; False: "not yet here"


@dataclass(frozen=True)
class Entry:
    """One entry of a note's `attachments` field, as sealed (FORMAT.md, "Attachments")."""

    name: str
    media_type: str
    size: int
    blob: str
    key: bytes
    added: int

    @property
    def ref(self) -> BlobRef:
        return BlobRef(self.blob, self.size, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.media_type,
            "size": self.size,
            "blob": self.blob,
            "key": base64.b64encode(self.key).decode("ascii"),
            "added": self.added,
        }

    @staticmethod
    def from_json(value: Any) -> Entry | None:
        """An entry, or None for anything malformed (a newer or hostile writer): it is skipped
        when listing and kept as it was when the note is written again."""
        if type(value) is not dict:
            return None
        name, media_type, size = value.get("name"), value.get("type"), value.get("size")
        blob, key, added = value.get("blob"), value.get("key"), value.get("added", 0)
        if type(name) is not str or not _valid_name(name):
            return None
        if type(size) is not int or size < 0 or type(added) is not int:
            return None
        if type(blob) is not str or not is_blob_name(blob):
            return None
        if type(key) is not str:
            return None
        try:
            raw = base64.b64decode(key, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != crypto.KEY_BYTES:
            return None
        if type(media_type) is not str or not media_type or len(media_type) > 255:
            media_type = DEFAULT_TYPE
        return Entry(name, media_type, size, blob, raw, added)


def _valid_name(name: str) -> bool:
    return bool(name) and name == clean_attachment_name(name, strict=False)


def clean_attachment_name(name: str, *, strict: bool = True) -> str:
    """A file name fit to keep: NFC, no path separators, no control characters, no lone
    surrogate (see `_file_system_name`), not `.`/`..`,
    at most 255 characters. With `strict`, refuse what cannot be made so; otherwise return ''
    (used to reject a stored name that a program of ours would not have written)."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    bad = (
        not cleaned
        or cleaned in (".", "..")
        or "/" in cleaned
        or "\\" in cleaned
        or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in cleaned)
        or not _file_system_name(cleaned, strict)
        or len(cleaned) > MAX_NAME
    )
    if bad:
        if not strict:
            return ""
        raise InvalidInputError(
            "an attachment name must be 1 to 255 characters with no '/', '\\' or control "
            "characters; choose one with --name"
        )
    return cleaned


def _file_system_name(name: str, strict: bool) -> bool:
    """No lone surrogate in a new name; in a stored one only those a file name's undecodable
    bytes give (U+DC80..U+DCFF, which an older version kept): any other cannot be written as
    a file name (`get` would crash) and no program of ours wrote it."""
    if not any("\ud800" <= c <= "\udfff" for c in name):
        return True
    if strict:
        return False
    try:
        name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def guess_type(name: str) -> str:
    import mimetypes  # only when attaching: reads the system's table of types

    media_type, _ = mimetypes.guess_type(name, strict=False)
    return media_type or DEFAULT_TYPE


def entries(note: Note) -> list[Entry]:
    """The valid entries of a note's attachments field, in the order they were added."""
    raw = note.extra.get(FIELD)
    if type(raw) is not list:
        return []
    result: list[Entry] = []
    seen: set[str] = set()
    for value in raw[:MAX_ATTACHMENTS]:
        entry = Entry.from_json(value)
        if entry is not None and entry.name not in seen:
            seen.add(entry.name)
            result.append(entry)
    return result


def referenced_blobs(notes: Iterable[Note]) -> set[str]:
    """Every blob name the given notes' attachments use."""
    names: set[str] = set()
    for note in notes:
        raw = note.extra.get(FIELD)
        if type(raw) is list:
            for value in raw[:MAX_ATTACHMENTS]:
                if type(value) is dict and type(value.get("blob")) is str:
                    names.add(value["blob"])
    return names


def blob_store(vault: Vault) -> BlobStore:
    return BlobStore(vault.path / "blobs", crypto.subkey(vault.master_key, Label.BLOBS))


def _with_entries(note: Note, raw: list[Any]) -> Note:
    extra = dict(note.extra)
    if raw:
        extra[FIELD] = raw
    else:
        extra.pop(FIELD, None)
    return dataclasses.replace(note, extra=extra)


def _write(vault: Vault, note: Note, updated: Note) -> Note:
    written = vault._write(updated, vault._parents(note))
    assert isinstance(written, Note)
    return written


# --- the API (Vault delegates here) -------------------------------------------------------------


class _Listing:
    """What opening a note with attachments needs, kept so that it costs about what opening
    one without does: each note version's parsed entries, and the names of the blobs here,
    listed again only when the folder changed (one stat)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parsed: dict[tuple[str, str], list[Entry]] = {}
        self.shown: dict[tuple[str, str], tuple[frozenset[str], list[Attachment]]] = {}
        self.signature: tuple[int, int, int] | None = None
        self.names: frozenset[str] = frozenset()

    def entries(self, note: Note) -> list[Entry]:
        key = (note.id, note.version)
        found = self.parsed.get(key)
        if found is None:
            if len(self.parsed) > 4096:
                self.parsed.clear()
                self.shown.clear()
            found = self.parsed[key] = entries(note)
        return found

    def held(self) -> frozenset[str]:
        try:
            st = os.stat(self.folder)
            signature = (st.st_mtime_ns, st.st_ino, st.st_nlink)
        except OSError:
            return frozenset()
        if signature != self.signature:
            self.names = frozenset(BlobStore(self.folder, b"").names())
            # A folder changed within the last moments may change again within the same
            # timestamp tick: listed again next time rather than trusted.
            fresh = time.time_ns() - st.st_mtime_ns < 2_000_000_000
            self.signature = None if fresh else signature
        return self.names


def list_attachments(vault: Vault, note_id: str) -> list[Attachment]:
    note = vault.note(note_id)
    if FIELD not in note.extra:
        return []  # a note without attachments costs nothing more
    listing: _Listing = vault.view("attachments", lambda: _Listing(vault.path / "blobs"))
    found = listing.entries(note)
    held = listing.held() if found else frozenset()
    key = (note.id, note.version)
    shown = listing.shown.get(key)
    if shown is None or shown[0] is not held:
        made = [Attachment(e.name, e.size, e.media_type, e.blob, e.blob in held) for e in found]
        shown = listing.shown[key] = (held, made)
    return list(shown[1])


def _regular_source(source: Path) -> None:
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise NotFoundError(f"no file {source}") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {source}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"{source} is not a regular file")


def attach(
    vault: Vault,
    note_id: str,
    source: Path,
    *,
    name: str | None = None,
    progress: Progress | None = None,
) -> Attachment:
    """Seal the file at `source` and keep it with the note (a new version of the note).
    The same content under the same name again changes nothing; another file under a name the
    note already has is refused."""
    source = Path(source)
    clean = clean_attachment_name(name if name is not None else source.name)
    vault.note(note_id)  # the note exists before any work is done
    return attach_sealed(vault, note_id, seal_file(vault, source, progress), clean)


def seal_file(vault: Vault, source: Path, progress: Progress | None = None) -> BlobRef:
    """Seal the file at `source` as a blob of this device (stored once per content), for
    `attach_sealed`. No note uses it yet: the garbage collector leaves it alone for
    GC_GRACE_SECONDS, so it must be attached within that time (an import seals a note's
    large files before the transaction that writes the note, not while holding the store)."""
    _regular_source(source)
    try:
        return blob_store(vault).put(source, progress)
    except FileNotFoundError:
        raise NotFoundError(f"no file {source}") from None
    except PermissionError:
        raise InvalidInputError(f"cannot read {source}: permission denied") from None
    except OSError as exc:  # an I/O error reading the file (its blob's own writes say so)
        raise InvalidInputError(f"cannot read {source}: {exc.strerror or exc}") from None


def attach_sealed(vault: Vault, note_id: str, ref: BlobRef, name: str) -> Attachment:
    """Keep the blob `seal_file` made with the note, as `name` (a new version of the note)."""
    clean = clean_attachment_name(name)
    with vault._lock:
        note = vault.note(note_id)
        current = entries(note)
        for entry in current:
            if entry.name == clean:
                if entry.blob == ref.name:
                    return Attachment(clean, entry.size, entry.media_type, entry.blob, True)
                raise InvalidInputError(
                    f"this note already has an attachment named '{clean}'; "
                    "remove it first or choose another name with --name"
                )
        if len(current) >= MAX_ATTACHMENTS:
            raise InvalidInputError(f"a note holds at most {MAX_ATTACHMENTS} attachments")
        entry = Entry(clean, guess_type(clean), ref.size, ref.name, ref.key, now_ms())
        raw = note.extra.get(FIELD)
        raw = list(raw) if type(raw) is list else []
        raw.append(entry.to_json())
        _write(vault, note, _with_entries(note, raw))
    return Attachment(entry.name, entry.size, entry.media_type, entry.blob, True)


def find_entry(vault: Vault, note_id: str, name: str) -> Entry:
    note = vault.note(note_id)
    wanted = unicodedata.normalize("NFC", name)
    for entry in entries(note):
        if entry.name == wanted:
            return entry
    raise NotFoundError(
        "this note has no attachment by that name; `vault attachments NOTE` lists them"
    )


def save_attachment(
    vault: Vault,
    note_id: str,
    name: str,
    out: BinaryIO,
    progress: Progress | None = None,
    *,
    private: bool = False,
) -> None:
    """Write the attachment's bytes to `out`, verifying them on the way. Raises
    AttachmentMissing when the bytes are not on this device yet (sync fetches them), and
    IntegrityError when the blob does not verify (part of the bytes may be in `out` then:
    write to a private temporary file and keep it only when this returns). `private`: `out`
    is such a file, which may then be written out of order (BlobStore.open)."""
    entry = find_entry(vault, note_id, name)
    store = blob_store(vault)
    if not store.has(entry.blob) and not _fetch_from_sync_folder(vault, entry.ref):
        raise AttachmentMissing(
            "this attachment is not here yet: its bytes arrive with the next sync from "
            "the device that added it"
        )
    try:
        store.open(entry.ref, out, progress, private=private)
    except NotFoundError:
        raise AttachmentMissing("this attachment is not here yet; sync to fetch it") from None


def _fetch_from_sync_folder(vault: Vault, ref: BlobRef) -> bool:
    """The bytes are not here: take them from the sync folder now if a device offers them."""
    return any(fetch(vault, ref) for fetch in FETCHERS)


def remove_attachment(vault: Vault, note_id: str, name: str) -> None:
    """Drop the attachment from the note (a new version). The bytes go once no note uses them
    and they are old enough (`collect_garbage`, run here, at purges and at every sync)."""
    with vault._lock:
        entry = find_entry(vault, note_id, name)
        note = vault.note(note_id)
        raw = note.extra.get(FIELD)
        raw = list(raw) if type(raw) is list else []
        kept = [v for v in raw if not (type(v) is dict and _same_name(v.get("name"), entry.name))]
        _write(vault, note, _with_entries(note, kept))
    collect_garbage(vault)


def _same_name(value: Any, name: str) -> bool:
    return type(value) is str and unicodedata.normalize("NFC", value) == name


def live_blobs(vault: Vault) -> set[str]:
    """Blobs used by any note the vault holds (in the trash too), by every current version
    of a note in conflict."""
    return referenced_blobs(live_versions(vault))


def live_versions(vault: Vault) -> Iterator[Note]:
    """Every note the vault holds (in the trash too), then the other current versions of the
    notes in conflict: what may still use an attachment."""
    notes = vault.all_notes(bodies=False)  # their attachments only: no body needed
    yield from notes
    for note in notes:
        if not note.conflict:
            continue
        for head in vault.store.heads(note.id):
            if head.deleted:
                continue
            try:
                payload = vault.open_op(head)
            except VaultError:
                continue
            yield Note.from_payload(note.id, payload)


def collect_garbage(vault: Vault, *, grace: float | None = None) -> list[str]:
    """Remove this device's blobs that no note uses any more (after a purge, or once every
    note that used a file dropped it) and that are older than `grace` seconds. Returns the
    names removed."""
    kinds = getattr(vault, "_kinds", None)
    if kinds is not None and "note" not in kinds:
        return []  # a partial view (`vault rm ID`) cannot tell what notes use: later
    grace = GC_GRACE_SECONDS if grace is None else grace
    store = blob_store(vault)
    _remove_stale_partials(store.folder, max(grace, PARTIAL_GRACE_SECONDS))
    held = store.names()
    if not held:
        return []
    used = live_blobs(vault)
    now = time.time()
    removed = []
    for name in sorted(held - used):
        try:
            age = now - os.lstat(store.path(name)).st_mtime
        except OSError:
            continue
        if age >= grace:
            store.remove(name)
            removed.append(name)
    return removed


# A blob being written is `.<name>.blob.<8 hex>.tmp` (fsutil.replacing) until it is renamed; a
# process killed meanwhile leaves it for good, as large as what it had sealed. One not written
# to for this long is such a leftover: a live writer touches it every part it seals.
PARTIAL_GRACE_SECONDS = 60 * 60
_PARTIAL = re.compile(r"\.[0-9a-f]{64}\.blob\.[0-9a-f]{8}\.tmp")


def _remove_stale_partials(folder: Path, grace: float) -> None:
    """Remove the partly written blobs a killed process left in this device's own folder
    (only names our writer makes, only regular files, only ones still for `grace` s)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    now = time.time()
    for entry in entries:
        if _PARTIAL.fullmatch(entry.name) is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and now - info.st_mtime >= grace:
                os.unlink(entry.path)
        except OSError:
            continue


def check_blobs(
    vault: Vault, progress: Callable[[int, int], None] | None = None
) -> tuple[int, dict[str, str]]:
    """`vault check` for attachments: every blob a note uses (in the trash too, and every
    current version of a note in conflict) that is here is checked whole, its parts and its
    content hash (FORMAT.md, "Blobs", "Checking"). Returns how many blobs were checked and a
    one-line reason for each damaged one, by blob name. A blob not here yet is not damaged.
    `progress(done, total)` before each blob checked may raise to stop there."""
    kinds = getattr(vault, "_kinds", None)
    if kinds is not None and "note" not in kinds:
        return 0, {}
    notes = vault.all_notes(bodies=False)  # their attachments only: no body needed
    for note in [n for n in notes if n.conflict]:
        for head in vault.store.heads(note.id):
            if head.deleted:
                continue
            try:
                notes.append(Note.from_payload(note.id, vault.open_op(head)))
            except VaultError:
                continue  # the note itself is reported damaged
    uses: dict[BlobRef, tuple[str, str]] = {}
    for note in notes:
        for entry in entries(note):
            uses.setdefault(entry.ref, (entry.name, note.id))
    store = blob_store(vault)
    held = store.names()
    checked = 0
    damaged: dict[str, str] = {}
    here = sorted((i for i in uses.items() if i[0].name in held), key=lambda i: i[0].name)
    for done, (ref, (name, note_id)) in enumerate(here):
        if progress is not None:
            progress(done, len(here))
        if ref.name in damaged:
            continue
        checked += 1
        try:
            store.verify(ref)
        except NotFoundError:
            checked -= 1  # removed meanwhile (by a sync): not here, not damaged
        except VaultError as exc:
            damaged[ref.name] = f"{exc} (the attachment '{name}' of note {short(note_id)})"
    return checked, damaged


# --- the link form in Markdown ----------------------------------------------------------------


def attachment_link(name: str, *, image: bool | None = None, alt: str | None = None) -> str:
    """The Markdown that shows (an image) or links to (any file) the attachment `name`."""
    from urllib.parse import quote

    if image is None:
        image = guess_type(name).startswith("image/")
    target = LINK_SCHEME + quote(name, safe="")
    text = (alt if alt is not None else name).replace("\\", "\\\\")
    text = text.replace("[", "\\[").replace("]", "\\]")
    return f"{'!' if image else ''}[{text}]({target})"


def parse_attachment_link(target: str) -> str | None:
    """The attachment name a link target names (`attachment:NAME`), or None."""
    from urllib.parse import unquote

    target = target.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target.startswith(LINK_SCHEME):
        return None
    name = unquote(target[len(LINK_SCHEME) :])
    return clean_attachment_name(name, strict=False) or None


# --- merging two versions' lists (vault.sync.conflicts) -----------------------------------------


def _by_name(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if type(value) is list:
        for entry in value[:MAX_ATTACHMENTS]:
            if type(entry) is dict and type(entry.get("name")) is str:
                result.setdefault(entry["name"], entry)
    return result


def _same_file(x: Any, y: Any) -> bool:
    return x == y or (type(x) is dict and type(y) is dict and x.get("blob") == y.get("blob"))


def merge_lists(base: Any, a: Any, b: Any) -> tuple[list[Any], bool]:
    """Three-way merge of two versions' `attachments` fields, entry by name: files added on
    either side are kept, files removed on one side (and untouched on the other) go, and a
    file one side removed while the other replaced it stays. The same name given two different
    files on both sides is a conflict (both versions stay; a holds the merged value); the same
    file on both sides is not. Order: a's entries, then b's additions. Deterministic: only
    the three values go in (SYNC.md, "Field merge", rule 5)."""
    old, mine, theirs = _by_name(base), _by_name(a), _by_name(b)
    merged: list[Any] = []
    conflict = False
    for name in list(mine) + [n for n in theirs if n not in mine]:
        x, y, o = mine.get(name), theirs.get(name), old.get(name)
        if x is not None and y is not None:
            if _same_file(x, y):
                pick = y if (y != o and x == o) else x  # one file: no conflict either way
            elif x == o:
                pick = y
            elif y == o:
                pick = x
            else:
                pick, conflict = x, True
            merged.append(pick)
        elif x is not None:
            if o is None or x != o:  # added by a, or changed by a while b removed it
                merged.append(x)
        elif y is not None and (o is None or y != o):
            merged.append(y)
    return merged, conflict
