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
import mimetypes
import os
import stat
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote

from vault.errors import AttachmentMissing, InvalidInputError, NotFoundError, VaultError
from vault.notes.model import Note, now_ms
from vault.sealing import crypto
from vault.sealing.crypto import Label
from vault.storage.blobs import BlobRef, BlobStore

if TYPE_CHECKING:
    from vault.notes.vault import Vault

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
        if type(blob) is not str or len(blob) != 64 or not _is_hex(blob):
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


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _valid_name(name: str) -> bool:
    return bool(name) and name == clean_attachment_name(name, strict=False)


def clean_attachment_name(name: str, *, strict: bool = True) -> str:
    """A file name fit to keep: NFC, no path separators, no control characters, not `.`/`..`,
    at most 255 characters. With `strict`, refuse what cannot be made so; otherwise return ''
    (used to reject a stored name that a program of ours would not have written)."""
    cleaned = unicodedata.normalize("NFC", name).strip()
    bad = (
        not cleaned
        or cleaned in (".", "..")
        or "/" in cleaned
        or "\\" in cleaned
        or any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in cleaned)
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


def guess_type(name: str) -> str:
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


def list_attachments(vault: Vault, note_id: str) -> list[Attachment]:
    note = vault.note(note_id)
    store = blob_store(vault)
    present = store.names() if note.extra.get(FIELD) else set()
    return [
        Attachment(e.name, e.size, e.media_type, e.blob, e.blob in present) for e in entries(note)
    ]


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
    _regular_source(source)
    try:
        ref = blob_store(vault).put(source, progress)
    except FileNotFoundError:
        raise NotFoundError(f"no file {source}") from None
    except PermissionError:
        raise InvalidInputError(f"cannot read {source}: permission denied") from None
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
    vault: Vault, note_id: str, name: str, out: BinaryIO, progress: Progress | None = None
) -> None:
    """Write the attachment's bytes to `out`, verifying them on the way. Raises
    AttachmentMissing when the bytes are not on this device yet (sync fetches them), and
    IntegrityError when the blob does not verify (part of the bytes may be in `out` then:
    write to a private temporary file and keep it only when this returns)."""
    entry = find_entry(vault, note_id, name)
    store = blob_store(vault)
    if not store.has(entry.blob):
        fetch = getattr(vault, "fetch_blob", None)
        if fetch is None or not fetch(entry.ref):
            raise AttachmentMissing(
                "this attachment is not here yet: its bytes arrive with the next sync from "
                "the device that added it"
            )
    try:
        store.open(entry.ref, out, progress)
    except NotFoundError:
        raise AttachmentMissing("this attachment is not here yet; sync to fetch it") from None


def remove_attachment(vault: Vault, note_id: str, name: str) -> None:
    """Drop the attachment from the note (a new version). The bytes stay until no note uses
    them (`collect_garbage`)."""
    with vault._lock:
        entry = find_entry(vault, note_id, name)
        note = vault.note(note_id)
        raw = note.extra.get(FIELD)
        raw = list(raw) if type(raw) is list else []
        kept = [v for v in raw if not (type(v) is dict and _same_name(v.get("name"), entry.name))]
        _write(vault, note, _with_entries(note, kept))


def _same_name(value: Any, name: str) -> bool:
    return type(value) is str and unicodedata.normalize("NFC", value) == name


def live_blobs(vault: Vault) -> set[str]:
    """Blobs used by any note the vault holds (in the trash too), by every current version
    of a note in conflict."""
    notes = vault.all_notes()
    used = referenced_blobs(notes)
    for note in notes:
        if note.conflict:
            used |= _conflict_blobs(vault, note.id)
    return used


def _conflict_blobs(vault: Vault, note_id: str) -> set[str]:
    used: set[str] = set()
    for head in vault.store.heads(note_id):
        if head.deleted:
            continue
        try:
            payload = vault.open_op(head)
        except VaultError:
            continue
        used |= referenced_blobs([Note.from_payload(note_id, payload)])
    return used


def collect_garbage(vault: Vault, *, grace: float = GC_GRACE_SECONDS) -> list[str]:
    """Remove this device's blobs that no note uses any more (after a purge, or once every
    note that used a file dropped it) and that are older than `grace` seconds. Returns the
    names removed."""
    store = blob_store(vault)
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


# --- the link form in Markdown ----------------------------------------------------------------


def attachment_link(name: str, *, image: bool | None = None, alt: str | None = None) -> str:
    """The Markdown that shows (an image) or links to (any file) the attachment `name`."""
    if image is None:
        image = guess_type(name).startswith("image/")
    target = LINK_SCHEME + quote(name, safe="")
    text = (alt if alt is not None else name).replace("\\", "\\\\")
    text = text.replace("[", "\\[").replace("]", "\\]")
    return f"{'!' if image else ''}[{text}]({target})"


def parse_attachment_link(target: str) -> str | None:
    """The attachment name a link target names (`attachment:NAME`), or None."""
    target = target.strip()
    if target.startswith("<") and target.endswith(">"):
        target = target[1:-1]
    if not target.startswith(LINK_SCHEME):
        return None
    name = unquote(target[len(LINK_SCHEME) :])
    return clean_attachment_name(name, strict=False) or None
