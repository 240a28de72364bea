"""Markdown export and import: the one deliberate path by which notes leave the vault in clear.

One module of about 640 lines, on purpose: export and import are each other's inverse, and the
round-trip rules (file names, notebooks as folders, front matter keys, attachment links) are
easiest to keep true when both sides are read together. Front matter is in
`vault.interchange.frontmatter` and attachments in `vault.interchange.md_attachments`.

Export writes one `.md` file per note (YAML front matter: title, tags, created, modified, and
pinned when set), with notebooks as folders, names made safe for Linux, macOS and Windows
(`vault.interchange.frontmatter`). Files are 0600 and folders 0700, and the export is built in a
hidden folder that gets its name only when complete, so a half-written export is recognisable:
`.<name>.vault-exporting-<pid>-<random>`. One left by an export that was killed (plaintext of
every note) is wiped by the next export into the same folder, once its process is gone.

Import reads `.md` and `.markdown` files from a folder tree such as an Obsidian vault or another
app's export: the title comes from the front matter, else the first `# heading`, else the file
name; notebooks come from folders; tags from the front matter (`tags` or `tag`, as a list, a
comma- or space-separated string), and, when asked, from `#words` in the text. Front matter keys
we have no field for (aliases, cssclasses...) are kept with the note and written back on export.

Attachments go along both ways (`vault.interchange.md_attachments`): export writes each one to
`attachments/<note>/<file>` and points the note's links there; import brings in the files a
note links to (Obsidian embeds, Markdown links and images) and points the links back at the
attachments. Files no note links to are left alone, and said so, one line each.

Round trip: exporting and importing into a new vault gives the same titles, bodies (byte for
byte), tags, notebooks, pinned flags, attachments and times (to the second). Importing the same
folder twice adds nothing the second time: a file is skipped when a note with the same
notebook, title and body already existed before the import began. Files are written in batches
of one transaction each (IMPORT_BATCH): an import that is killed keeps whole batches, and
importing again brings in the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import repeat
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING, Any

from vault.errors import InvalidInputError, VaultError
from vault.fsutil import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    fsync_dir,
    make_private_dirs,
    storage_error,
    sweep_stale_dirs,
)
from vault.interchange import md_attachments
from vault.interchange.frontmatter import (
    coerce_datetime,
    dump_front_matter,
    normalise_tags,
    read_front_matter,
    safe_dirname,
    safe_filename,
    safe_filenames,
)
from vault.notes.attachments import FIELD as ATTACHMENTS_FIELD
from vault.notes.model import Note, datetime_of, has_body, with_body

if TYPE_CHECKING:
    from vault.notes.vault import Vault
    from vault.storage.blobs import BlobRef

MARKDOWN_SUFFIXES = (".md", ".markdown")
# Where a note's foreign front matter is kept (inside the sealed payload, like every field).
EXTRA_KEY = "front_matter"
SOURCE_KEY = "imported_from"  # (vault.notes.links reads it by this name too)
# Keys we read ourselves, in any case; everything else is foreign and kept.
_TITLE_KEYS = ("title",)
_TAG_KEYS = ("tags", "tag")
_CREATED_KEYS = ("created", "date created", "created_at", "creation date", "date")
_MODIFIED_KEYS = ("modified", "updated", "date modified", "updated_at", "last_modified", "lastmod")
_OWN_KEYS = frozenset(
    (
        *_TITLE_KEYS,
        *_TAG_KEYS,
        *_CREATED_KEYS,
        *_MODIFIED_KEYS,
        "pinned",
        "notebook",
        md_attachments.NAMES_KEY,
    )
)
_HEADING = re.compile(r"#[ \t]+(.+)")  # on a stripped line; closing #s removed by _heading
_FENCE = re.compile(r"[ ]{0,3}(`{3,}|~{3,})")
# An inline #tag: after a space or line start, a letter/digit/_ first, then also / and -.
_INLINE_TAG = re.compile(r"(?:(?<=\s)|^)#([^\W][\w/-]*)", re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")

Progress = Callable[[int, int | None], None]
# The hidden work folder of an export in progress, named for the process that writes it.
_WORK_FOLDER = re.compile(r"\..*\.vault-exporting-(?P<pid>\d{1,10})-[0-9a-f]{8}", re.DOTALL)
# One transaction per batch of files when importing: a batch is committed whole or not at all
# (a killed import keeps whole batches, and importing again brings in the rest: see
# `_body_key`). A batch ends at this many files, this much text, or this long, whichever comes
# first, so SQLite's log stays small and the store is held well under the 10 s another writer
# waits for it. Fewer, larger transactions cost less: each commit is an fsync and, in a large
# store, a WAL checkpoint writing pages all over it (100,000 notes on a loaded machine: 176 s
# with batches of at most 1 s, 95 s with at most 5 s).
IMPORT_BATCH = 2000
IMPORT_BATCH_BYTES = 16 * 1024 * 1024
IMPORT_BATCH_SECONDS = 5.0
# A note whose linked files hold more than this is written in a batch of its own, its files
# sealed before the batch begins (sealing runs at about 1 GB/s: a few ms here inside a batch).
SEAL_APART_BYTES = 4 * 1024 * 1024
# The progress callback is told every so many files.
_PROGRESS_EVERY = 50


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    notes: int
    notebooks: int
    attachments: int = 0  # files written under attachments/
    attachments_missing: int = 0  # not on this device yet (or damaged): their links stay


@dataclass(frozen=True)
class ImportReport:
    folder: Path
    imported: int
    unchanged: int  # skipped: the same note was already in the vault
    notebooks_created: int
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> why not imported
    other_files: int = 0  # files that are not Markdown and no note brought in: left alone
    attachments: int = 0  # files brought in as attachments of the notes that link to them
    left_alone: dict[str, str] = field(default_factory=dict)  # relative path -> why
    # Notes imported whose front matter could not be read: it stays in the note's text, and
    # their title, tags and dates come from elsewhere. Relative path -> why.
    front_matter_kept: dict[str, str] = field(default_factory=dict)


# --- export ------------------------------------------------------------------------------------


def _ms_to_datetime(ms: int) -> datetime | None:
    """To the second, in UTC; None for a time no calendar shows (`datetime_of`): left out."""
    return datetime_of(ms // 1000 * 1000, UTC)


def note_front_matter(
    note: Note, notebook_path: str | None = None, renamed: list[str] | None = None
) -> dict[str, object]:
    """The front matter of one exported note; `notebook_path` only when the folders cannot
    say it exactly (a name that had to be changed to be a safe folder name), `renamed` only
    when an attachment's file name is not its name ("FILE/NAME" each)."""
    meta: dict[str, object] = {"title": note.title}
    if note.tags:
        meta["tags"] = list(note.tags)
    for key, ms in (("created", note.created), ("modified", note.modified)):
        when = _ms_to_datetime(ms)
        if when is not None:
            meta[key] = when
    if note.pinned:
        meta["pinned"] = True
    if notebook_path:
        meta["notebook"] = notebook_path
    if renamed:
        meta[md_attachments.NAMES_KEY] = renamed
    foreign = note.extra.get(EXTRA_KEY)
    if isinstance(foreign, dict):
        for key, value in foreign.items():
            if isinstance(key, str) and key.casefold() not in _OWN_KEYS and key not in meta:
                meta[key] = _emittable(value)
    return meta


def _emittable(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value]
    return str(value)


def note_to_markdown(
    note: Note,
    notebook_path: str | None = None,
    *,
    body: str | None = None,
    renamed: list[str] | None = None,
) -> str:
    meta = note_front_matter(note, notebook_path, renamed)
    return dump_front_matter(meta) + (note.body if body is None else body)


def check_export_target(folder: Path) -> None:
    try:
        if folder.exists() and not folder.is_dir():
            raise InvalidInputError(f"{folder} exists and is not a folder")
        if folder.is_dir() and any(folder.iterdir()):
            raise InvalidInputError(f"{folder} is not empty; export into an empty or new folder")
    except OSError as exc:  # a folder we may not look into
        raise storage_error(exc, folder) from None


def export_markdown(
    vault: Vault, folder: Path, *, progress: Progress | None = None
) -> ExportReport:
    """Write every note outside the trash as Markdown under `folder` (empty or new)."""
    folder = folder.expanduser().absolute()
    check_export_target(folder)
    tmp = folder.with_name(f".{folder.name}.vault-exporting-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        make_private_dirs(folder.parent)
        sweep_stale_dirs(folder.parent, _WORK_FOLDER)
        os.mkdir(tmp, PRIVATE_DIR_MODE)
        counts = _write_tree(vault, tmp, progress)
        check_export_target(folder)  # still empty: nothing appeared there meanwhile
        if folder.exists():
            folder.rmdir()
        os.rename(tmp, folder)
        fsync_dir(folder.parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise storage_error(exc, folder) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportReport(folder, *counts)


def _write_tree(vault: Vault, root: Path, progress: Progress | None) -> tuple[int, int, int, int]:
    """Notes, notebooks, attachments written and attachments missing."""
    # The attachments folder is reserved at the root: a notebook of that name is renamed (its
    # exact path goes in its notes' front matter).
    taken: dict[Path, set[str]] = {root: {md_attachments.ATTACHMENTS_DIR}}
    files = _AttachmentWriter(vault, root)
    dirs: dict[str, Path] = {}
    exact: dict[str, bool] = {}  # notebook id -> its folder names equal its real names
    for nb in vault.notebooks():  # parents before children
        parent_dir = dirs.get(nb.parent or "", root)
        name = safe_dirname(nb.name, taken.setdefault(parent_dir, set()))
        dirs[nb.id] = parent_dir / name
        exact[nb.id] = name == nb.name and exact.get(nb.parent or "", True)
        os.mkdir(dirs[nb.id], PRIVATE_DIR_MODE)
    nb_paths = {nb_id: vault.notebook_path(nb_id) for nb_id in dirs}
    # The notes as listed (perhaps without their bodies: the app's vault holds them so),
    # their bodies read a slice at a time as they are written (`Vault.bodies_of`).
    notes = sorted(vault.notes(bodies=False), key=lambda n: (n.created, n.id))
    by_folder: dict[Path, list[Note]] = {}
    for note in notes:
        by_folder.setdefault(dirs.get(note.notebook or "", root), []).append(note)
    named: dict[str, tuple[Path, str]] = {}  # note id -> its folder and file name
    for where, folder_notes in by_folder.items():
        # Named per folder in one pass (oldest first, so duplicates number in creation order).
        names = safe_filenames([n.title for n in folder_notes], taken.setdefault(where, set()))
        named.update(zip((n.id for n in folder_notes), zip(repeat(where), names), strict=True))
    in_order = [n for folder_notes in by_folder.values() for n in folder_notes]
    written: list[Path] = []
    for listed, whole_body in vault.bodies_of(in_order):
        note = listed if has_body(listed) else with_body(listed, whole_body)
        where, name = named[note.id]
        path = nb_paths.get(note.notebook or "", "")
        keep_path = path if path and not exact.get(note.notebook or "", True) else None
        note_dir = where.relative_to(root).as_posix()
        body, renamed = files.write(note, name.removesuffix(".md"), note_dir)
        text = note_to_markdown(note, keep_path, body=body, renamed=renamed)
        _write_file(where / name, text, note.modified)
        written.append(where / name)
        if progress is not None and len(written) % 100 == 0:
            progress(len(written), len(notes))
    _flush_to_disk(written + files.written)
    for directory in [root, *dirs.values(), *files.folders]:
        fsync_dir(directory)
    return len(notes), len(dirs), len(files.written), files.missing


class _AttachmentWriter:
    """Writes notes' attachments under `attachments/<note>/` of an export."""

    def __init__(self, vault: Vault, root: Path) -> None:
        self.vault = vault
        self.top = root / md_attachments.ATTACHMENTS_DIR
        self.slugs: set[str] = set()
        self.written: list[Path] = []
        self.folders: list[Path] = []
        self.missing = 0

    def write(self, note: Note, stem: str, note_dir: str) -> tuple[str, list[str]]:
        """The note's body with links to its exported files, and its renamed files."""
        if not note.extra.get(ATTACHMENTS_FIELD):
            return note.body, []
        listed = self.vault.attachments(note.id)
        if not listed:
            return note.body, []
        if not self.folders:
            os.mkdir(self.top, PRIVATE_DIR_MODE)
            self.folders.append(self.top)
        slug = safe_filename(stem, self.slugs, ext="")
        folder = self.top / slug
        os.mkdir(folder, PRIVATE_DIR_MODE)
        self.folders.append(folder)
        names = md_attachments.file_names([a.name for a in listed], set())
        targets: dict[str, str] = {}
        renamed: list[str] = []
        for attachment, file_name in zip(listed, names, strict=True):
            path = folder / file_name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            try:
                with os.fdopen(fd, "wb") as out:
                    # (removed below if it fails: written in place, BlobStore.open)
                    self.vault.save_attachment(note.id, attachment.name, out, private=True)
            except VaultError:  # not here yet, or damaged: its links stay as they were
                path.unlink()
                self.missing += 1
                continue
            self.written.append(path)
            rel = f"{md_attachments.ATTACHMENTS_DIR}/{slug}/{file_name}"
            targets[attachment.name] = md_attachments.export_path(rel, note_dir)
            if file_name != attachment.name:
                renamed.append(f"{file_name}/{attachment.name}")
        return md_attachments.exported_body(note.body, targets), renamed


def _flush_to_disk(paths: list[Path]) -> None:
    """Make the files durable before the export gets its name. One sync() of the file system
    costs far less than an fsync per file (10,000 notes: ~0.5 s against ~20 s here)."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for path in paths:  # Windows has no sync(): one fsync each
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_file(path: Path, text: str, modified_ms: int) -> None:
    data = text.encode("utf-8", errors="surrogatepass")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    seconds = modified_ms / 1000
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(path, (seconds, seconds))  # other apps sort by it


# --- import ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedNote:
    """A Markdown file read as a note (no vault involved): for import, and for tests."""

    title: str
    body: str
    tags: list[str]
    created: datetime | None
    modified: datetime | None
    pinned: bool
    notebook: str | None  # an exact notebook path from the front matter
    foreign: dict[str, Any]
    renamed: dict[str, str] = field(default_factory=dict)  # exported file -> attachment name
    # Why a block at the top that looks like front matter could not be read (it stays text).
    front_matter_problem: str | None = None


def _folded(meta: dict[str, object]) -> dict[str, object]:
    return {k.casefold().replace("-", " ").replace("_", " "): v for k, v in meta.items()}


def _first(folded: dict[str, object], names: tuple[str, ...]) -> object:
    """The value of the first of `names` in front matter keyed as `_folded` gives it."""
    for name in names:
        value = folded.get(name.replace("_", " "))
        if value is not None:
            return value
    return None


def _prose_lines(body: str) -> Iterator[str]:
    """The lines of `body` outside fenced code blocks (``` or ~~~, closed by a fence of the
    same character at least as long)."""
    fence: str | None = None
    for line in body.splitlines():
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        yield line


def _heading(body: str) -> str | None:
    """The first level-one ATX heading outside fenced code."""
    for line in _prose_lines(body):
        match = _HEADING.fullmatch(line.strip())
        if match:
            text = match.group(1)
            # An optional closing sequence: whitespace then #s. (Done by hand: a lazy regex for
            # it is quadratic in a long run of spaces.)
            unclosed = text.rstrip("#")
            if unclosed != text and unclosed[-1:] in (" ", "\t"):
                text = unclosed
            if text.strip():
                return text.strip()
    return None


def inline_tags(body: str) -> list[str]:
    """`#tag` words in the text, outside code, in order, without duplicates."""
    found: list[str] = []
    for line in _prose_lines(body):
        if _ATX.match(line):
            continue  # "# Heading" is a heading; "#tag" at the start of a line is a tag
        for match in _INLINE_TAG.finditer(_INLINE_CODE.sub(" ", line)):
            tag = match.group(1).rstrip("/-")
            if tag and not tag.isdigit() and tag not in found:
                found.append(tag)
    return found


def _json_safe(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()  # the reader turns a bare date into midnight UTC
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return str(value)


def parse_markdown(text: str, fallback_title: str, *, with_inline_tags: bool = False) -> ParsedNote:
    """Read one Markdown document as a note. Never raises: a note's text is never lost."""
    text = text.removeprefix("\ufeff")
    meta, body, problem = read_front_matter(text)
    folded = _folded(meta)
    title_value = _first(folded, _TITLE_KEYS)
    title = str(_json_safe(title_value)).strip() if title_value is not None else ""
    if not " ".join(title.split()):
        title = _heading(body) or fallback_title
    if not " ".join(title.split()):
        title = "Untitled"
    tags = normalise_tags(_first(folded, _TAG_KEYS))
    if with_inline_tags:
        tags += [t for t in inline_tags(body) if t not in tags]
    # A tag cannot hold a comma in the vault; "a, b" in a list item means two tags.
    tags = list(dict.fromkeys(p.strip() for t in tags for p in t.split(",") if p.strip()))
    notebook = _first(folded, ("notebook",))
    foreign = {
        k: _json_safe(v)
        for k, v in meta.items()
        if k.casefold().replace("-", " ").replace("_", " ") not in _OWN_KEYS
    }
    return ParsedNote(
        title=title,
        body=body,
        tags=tags,
        created=coerce_datetime(_first(folded, _CREATED_KEYS)),
        modified=coerce_datetime(_first(folded, _MODIFIED_KEYS)),
        pinned=_first(folded, ("pinned",)) is True,
        notebook=notebook.strip().strip("/") if isinstance(notebook, str) else None,
        foreign=foreign,
        renamed=md_attachments.renamed_files(_first(folded, (md_attachments.NAMES_KEY,))),
        front_matter_problem=problem,
    )


def _readable(name: str) -> str:
    """A file or folder name as text: bytes that are not UTF-8 (os.fsdecode keeps them as lone
    surrogates, which cannot be sealed or printed) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _markdown_files(
    root: Path, unreadable: list[OSError] | None = None
) -> Iterator[tuple[Path, list[str]]]:
    """(file, its folder names relative to root) for every file, sorted, skipping hidden files
    and folders (.obsidian, .trash, .git) and never following folder links. Folders that
    cannot be read are added to `unreadable`."""
    onerror = unreadable.append if unreadable is not None else None
    for current, subdirs, files in os.walk(root, onerror=onerror, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        rel = [_readable(part) for part in Path(current).relative_to(root).parts]
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(current) / name, list(rel)


def _empty_folders(root: Path) -> Iterator[list[str]]:
    for current, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        if current != str(root) and not subdirs and not files:
            yield [_readable(part) for part in Path(current).relative_to(root).parts]


def _to_ms(value: datetime | None, fallback: float) -> int:
    if value is None:
        return int(fallback * 1000)
    return int(value.timestamp() * 1000)


def _body_key(notebook: str | None, title: str, body: str) -> tuple[str, str, str]:
    digest = hashlib.blake2b(body.encode("utf-8", errors="surrogatepass"), digest_size=16)
    return (notebook or "", title, digest.hexdigest())


@dataclass
class _ImportRun:
    """What one import shares between its files."""

    vault: Vault
    base: list[str]
    existing: set[tuple[str, str, str]]
    with_inline_tags: bool
    files: md_attachments.FolderFiles
    notebook_ids: dict[str, str] = field(default_factory=dict)
    last_size: int = 0  # bytes of the last file read
    attachments: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # a linked file not brought in
    front_matter_kept: dict[str, str] = field(default_factory=dict)  # (ImportReport's)


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, opened without waiting on a FIFO."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not S_ISREG(os.fstat(fh.fileno()).st_mode):  # reading a FIFO would wait for ever
            raise _NotRegular
        return fh.read()


class _NotRegular(Exception):
    pass


@dataclass
class _Prepared:
    """One Markdown file read and parsed, its notebook found, ready to be written."""

    title: str
    body: str
    notebook: str | None
    parsed: ParsedNote
    created: int
    modified: int
    wanted: md_attachments.NoteFiles
    files_bytes: int  # what the files it links to hold: sealing them costs about that
    source: str  # its file's path in the folder imported ("Projects/Alpha/Plan.md")
    sealed: dict[str, BlobRef] | None = None  # its files, once sealed


def _prepare(run: _ImportRun, path: Path, rel_dirs: list[str]) -> _Prepared | str:
    """Read and parse one Markdown file: what to write, or its outcome ("unchanged", or why it
    is not imported). Writes nothing but a notebook it needs."""
    from vault.notes.vault import clean_title

    vault = run.vault
    run.last_size = 0
    try:
        stat = path.stat()
        raw = _read_regular(path)
    except _NotRegular:
        return "is not a regular file"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    run.last_size = len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    stem = unicodedata.normalize("NFC", _readable(path.name).rsplit(".", 1)[0])
    parsed = parse_markdown(text, stem, with_inline_tags=run.with_inline_tags)
    note_dir = unicodedata.normalize("NFC", "/".join(rel_dirs))
    body, wanted = md_attachments.imported_body(parsed.body, note_dir, run.files, parsed.renamed)
    # An exact notebook path in the front matter (the exporter writes one when a name had to
    # change to be a safe folder name) beats the folder names.
    exact = [p for p in parsed.notebook.split("/") if p.strip()] if parsed.notebook else None
    folders = run.base + (exact if exact is not None else rel_dirs)
    try:
        nb_id = None
        if folders:
            key = "/".join(folders)
            if key not in run.notebook_ids:  # ensure_notebook walks every notebook: once per path
                run.notebook_ids[key] = vault.ensure_notebook(key)[0].id
            nb_id = run.notebook_ids[key]
        title = clean_title(parsed.title)
    except VaultError as exc:
        return str(exc)
    if _body_key(nb_id, title, body) in run.existing:
        run.files.attached.update(key for key, _ in wanted.files)  # brought in before
        return "unchanged"
    modified = _to_ms(parsed.modified, stat.st_mtime)
    created = _to_ms(parsed.created, getattr(stat, "st_birthtime", stat.st_mtime))
    if parsed.created is None:
        created = min(created, modified)
    files_bytes = md_attachments.wanted_bytes(run.files, wanted) if wanted.files else 0
    name = unicodedata.normalize("NFC", _readable(path.name))
    source = f"{note_dir}/{name}" if note_dir else name
    return _Prepared(title, body, nb_id, parsed, created, modified, wanted, files_bytes, source)


def _seal(run: _ImportRun, prepared: _Prepared) -> None:
    """Seal the files the note links to (once)."""
    if prepared.sealed is None:
        prepared.sealed = md_attachments.seal_all(
            run.vault.seal_file, run.files, prepared.wanted, run.problems
        )


def _extra(parsed: ParsedNote, source: str) -> dict[str, object]:
    """The note's fields besides its own: the front matter kept (another app's), and the file
    it came from, whose name and path links in the other notes may use ([[Plan]],
    [[Projects/Alpha/Plan]] for a note titled "The Alpha Plan": vault.notes.links)."""
    extra: dict[str, object] = {SOURCE_KEY: source}
    if parsed.foreign:
        extra[EXTRA_KEY] = parsed.foreign
    return extra


def _write_note(run: _ImportRun, prepared: _Prepared) -> str:
    """Write one prepared note and attach its files: "imported", or why not."""
    vault = run.vault
    parsed = prepared.parsed
    try:
        note = vault.import_note(
            prepared.title,
            prepared.body,
            notebook=prepared.notebook,
            tags=parsed.tags,
            pinned=parsed.pinned,
            created=prepared.created,
            modified=prepared.modified,
            extra=_extra(parsed, prepared.source),
        )
    except VaultError as exc:
        return str(exc)
    if prepared.wanted.files:
        _seal(run, prepared)  # small files: sealed here, inside the batch
        run.attachments += md_attachments.attach_all(
            lambda ref, name: vault.attach_sealed(note.id, ref, name),
            run.files,
            prepared.wanted,
            prepared.sealed or {},
            run.problems,
        )
    if parsed.front_matter_problem:
        run.front_matter_kept[prepared.source] = parsed.front_matter_problem
    return "imported"


def _import_files(
    run: _ImportRun,
    files: list[tuple[Path, list[str]]],
    folder: Path,
    outcomes: dict[str, int],
    skipped: dict[str, str],
    progress: Progress | None,
) -> int:
    """Import `files` in batches of one transaction each (see IMPORT_BATCH); returns how many.

    A note whose linked files are large (SEAL_APART_BYTES) starts a batch of its own, and its
    files are sealed before that batch begins: sealing hundreds of megabytes must not hold the
    store, which other processes wait for at most 10 s. The note and its attachments are still
    written in one transaction, so a killed import never leaves a note without the files it
    links to (importing again would find it unchanged and not attach them); a file sealed but
    not yet attached is left to the garbage collector, after its grace period."""
    vault = run.vault
    done = 0
    carried: _Prepared | str | None = None  # prepared in a batch, to be written in the next

    def record(outcome: str, path: Path) -> None:
        if outcome in outcomes:
            outcomes[outcome] += 1
        else:
            skipped[_readable(str(path.relative_to(folder)))] = outcome
        if progress is not None and done % _PROGRESS_EVERY == 0:
            progress(done, len(files))

    while done < len(files):
        prepared = carried if carried is not None else _prepare(run, *files[done])
        carried = None
        if isinstance(prepared, _Prepared) and prepared.files_bytes > SEAL_APART_BYTES:
            _seal(run, prepared)  # outside any transaction: the store is not held
        # One transaction per batch: one fsync per batch, not per note.
        with vault.batch():
            started, size, first = time.monotonic(), 0, done
            while True:
                path = files[done][0]
                outcome = prepared if isinstance(prepared, str) else _write_note(run, prepared)
                size += run.last_size + (
                    prepared.files_bytes if isinstance(prepared, _Prepared) else 0
                )
                done += 1
                record(outcome, path)
                if (
                    done >= len(files)
                    or done - first >= IMPORT_BATCH
                    or size >= IMPORT_BATCH_BYTES
                    or time.monotonic() - started >= IMPORT_BATCH_SECONDS
                ):
                    break
                prepared = _prepare(run, *files[done])
                if isinstance(prepared, _Prepared) and prepared.files_bytes > SEAL_APART_BYTES:
                    carried = prepared  # end this batch; seal it before the next one
                    break
    return done


def import_markdown(
    vault: Vault,
    folder: Path,
    *,
    notebook: str | None = None,
    with_inline_tags: bool = False,
    progress: Progress | None = None,
    max_attachment_bytes: int = md_attachments.MAX_ATTACHMENT_BYTES,
) -> ImportReport:
    """Import every Markdown file under `folder` as a note; folders become notebooks (under
    `notebook` if given), and the files notes link to become their attachments. A file that
    cannot be read, or a linked file that cannot be attached, is reported in `skipped`, never
    fatal; other files are reported in `left_alone`."""
    folder = folder.expanduser().absolute()
    try:
        is_folder = folder.is_dir()
        if is_folder:
            os.scandir(folder).close()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {folder}: {exc.strerror}") from None
    if not is_folder:
        raise InvalidInputError(f"{folder} is not a folder of Markdown files")
    live = [n for n in vault.all_notes(bodies=False) if not n.in_trash]  # (bodies: a slice
    existing = {_body_key(n.notebook, n.title, b) for n, b in vault.bodies_of(live)}  # at a time)
    base = [p for p in (notebook or "").split("/") if p.strip()]
    unreadable: list[OSError] = []
    found = list(_markdown_files(folder, unreadable))
    others = md_attachments.FolderFiles(folder, max_attachment_bytes)
    files = []
    for path, rel_dirs in found:
        if path.name.lower().endswith(MARKDOWN_SUFFIXES):
            files.append((path, rel_dirs))
        else:
            others.add("/".join([*rel_dirs, _readable(path.name)]), path)
    run = _ImportRun(vault, base, existing, with_inline_tags, others)
    notebooks_before = len(vault.notebooks())
    outcomes: dict[str, int] = {"imported": 0, "unchanged": 0}
    skipped: dict[str, str] = {}
    with vault.store.large_cache():
        done = _import_files(run, files, folder, outcomes, skipped, progress)
    if progress is not None and done:
        progress(done, done)
    for exc in unreadable:  # a folder os.walk could not list: its notes were not imported
        where = Path(exc.filename) if exc.filename else folder
        rel = _readable(str(where.relative_to(folder))) if where != folder else "."
        skipped[rel] = f"folder cannot be read ({exc.strerror})"
    for rel_dirs in _empty_folders(folder):
        # An empty folder is an empty notebook (as export writes one); a folder holding only
        # images or other files is left out.
        with contextlib.suppress(VaultError):
            vault.ensure_notebook("/".join(base + rel_dirs))
    created = len(vault.notebooks()) - notebooks_before
    left_alone: dict[str, str] = {}
    for key in others.by_path:
        if key in others.attached:
            continue
        reason = run.problems.get(key) or others.refused.get(key)
        if reason:  # a note links to it, and it could not be brought in
            skipped[key] = reason
        else:
            left_alone[key] = "not Markdown, and no note links to it"
    return ImportReport(
        folder,
        outcomes["imported"],
        outcomes["unchanged"],
        created,
        skipped,
        other_files=len(left_alone),
        attachments=run.attachments,
        left_alone=left_alone,
        front_matter_kept=run.front_matter_kept,
    )
