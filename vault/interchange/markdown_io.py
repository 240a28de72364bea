"""Markdown export and import: the one deliberate path by which notes leave the vault in clear.

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

Round trip: exporting and importing into a new vault gives the same titles, bodies (byte for
byte), tags, notebooks, pinned flags and times (to the second). Importing the same folder twice
adds nothing the second time: a file is skipped when a note with the same notebook, title and
body already existed before the import began.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
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
from vault.interchange.frontmatter import (
    coerce_datetime,
    dump_front_matter,
    normalise_tags,
    safe_dirname,
    safe_filenames,
    split_front_matter,
)
from vault.notes.model import Note

if TYPE_CHECKING:
    from vault.notes.vault import Vault

MARKDOWN_SUFFIXES = (".md", ".markdown")
# Where a note's foreign front matter is kept (inside the sealed payload, like every field).
EXTRA_KEY = "front_matter"
# Keys we read ourselves, in any case; everything else is foreign and kept.
_TITLE_KEYS = ("title",)
_TAG_KEYS = ("tags", "tag")
_CREATED_KEYS = ("created", "date created", "created_at", "creation date", "date")
_MODIFIED_KEYS = ("modified", "updated", "date modified", "updated_at", "last_modified", "lastmod")
_OWN_KEYS = frozenset(
    (*_TITLE_KEYS, *_TAG_KEYS, *_CREATED_KEYS, *_MODIFIED_KEYS, "pinned", "notebook")
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
IMPORT_BATCH = 200  # notes per transaction when importing


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    notes: int
    notebooks: int


@dataclass(frozen=True)
class ImportReport:
    folder: Path
    imported: int
    unchanged: int  # skipped: the same note was already in the vault
    notebooks_created: int
    skipped: dict[str, str] = field(default_factory=dict)  # relative path -> why not imported
    other_files: int = 0  # files that are not Markdown (attachments, images): left alone


# --- export ------------------------------------------------------------------------------------


def _ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, UTC)


def note_front_matter(note: Note, notebook_path: str | None = None) -> dict[str, object]:
    """The front matter of one exported note; `notebook_path` only when the folders cannot
    say it exactly (a name that had to be changed to be a safe folder name)."""
    meta: dict[str, object] = {"title": note.title}
    if note.tags:
        meta["tags"] = list(note.tags)
    meta["created"] = _ms_to_datetime(note.created)
    meta["modified"] = _ms_to_datetime(note.modified)
    if note.pinned:
        meta["pinned"] = True
    if notebook_path:
        meta["notebook"] = notebook_path
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


def note_to_markdown(note: Note, notebook_path: str | None = None) -> str:
    return dump_front_matter(note_front_matter(note, notebook_path)) + note.body


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
        notes, notebooks = _write_tree(vault, tmp, progress)
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
    return ExportReport(folder, notes, notebooks)


def _write_tree(vault: Vault, root: Path, progress: Progress | None) -> tuple[int, int]:
    taken: dict[Path, set[str]] = {}
    dirs: dict[str, Path] = {}
    exact: dict[str, bool] = {}  # notebook id -> its folder names equal its real names
    for nb in vault.notebooks():  # parents before children
        parent_dir = dirs.get(nb.parent or "", root)
        name = safe_dirname(nb.name, taken.setdefault(parent_dir, set()))
        dirs[nb.id] = parent_dir / name
        exact[nb.id] = name == nb.name and exact.get(nb.parent or "", True)
        os.mkdir(dirs[nb.id], PRIVATE_DIR_MODE)
    nb_paths = {nb_id: vault.notebook_path(nb_id) for nb_id in dirs}
    notes = sorted(vault.notes(), key=lambda n: (n.created, n.id))
    by_folder: dict[Path, list[Note]] = {}
    for note in notes:
        by_folder.setdefault(dirs.get(note.notebook or "", root), []).append(note)
    written: list[Path] = []
    for where, folder_notes in by_folder.items():
        # Named per folder in one pass (oldest first, so duplicates number in creation order).
        names = safe_filenames([n.title for n in folder_notes], taken.setdefault(where, set()))
        for note, name in zip(folder_notes, names, strict=True):
            path = nb_paths.get(note.notebook or "", "")
            keep_path = path if path and not exact.get(note.notebook or "", True) else None
            _write_file(where / name, note_to_markdown(note, keep_path), note.modified)
            written.append(where / name)
            if progress is not None and len(written) % 100 == 0:
                progress(len(written), len(notes))
    _flush_to_disk(written)
    for directory in [root, *dirs.values()]:
        fsync_dir(directory)
    return len(notes), len(dirs)


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


def _folded(meta: dict[str, object]) -> dict[str, object]:
    return {k.casefold().replace("-", " ").replace("_", " "): v for k, v in meta.items()}


def _first(meta: dict[str, object], names: tuple[str, ...]) -> object:
    folded = _folded(meta)
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
    meta, body = split_front_matter(text)
    title_value = _first(meta, _TITLE_KEYS)
    title = str(_json_safe(title_value)).strip() if title_value is not None else ""
    if not " ".join(title.split()):
        title = _heading(body) or fallback_title
    if not " ".join(title.split()):
        title = "Untitled"
    tags = normalise_tags(_first(meta, _TAG_KEYS))
    if with_inline_tags:
        tags += [t for t in inline_tags(body) if t not in tags]
    # A tag cannot hold a comma in the vault; "a, b" in a list item means two tags.
    tags = list(dict.fromkeys(p.strip() for t in tags for p in t.split(",") if p.strip()))
    notebook = _first(meta, ("notebook",))
    foreign = {
        k: _json_safe(v)
        for k, v in meta.items()
        if k.casefold().replace("-", " ").replace("_", " ") not in _OWN_KEYS
    }
    return ParsedNote(
        title=title,
        body=body,
        tags=tags,
        created=coerce_datetime(_first(meta, _CREATED_KEYS)),
        modified=coerce_datetime(_first(meta, _MODIFIED_KEYS)),
        pinned=_first(meta, ("pinned",)) is True,
        notebook=notebook.strip().strip("/") if isinstance(notebook, str) else None,
        foreign=foreign,
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


def _import_file(
    vault: Vault,
    path: Path,
    base: list[str],
    rel_dirs: list[str],
    existing: set[tuple[str, str, str]],
    notebook_ids: dict[str, str],
    with_inline_tags: bool,
) -> str:
    """Import one file: "imported", "unchanged", "other" (not Markdown), or why it was not."""
    from vault.notes.vault import clean_title

    if not path.name.lower().endswith(MARKDOWN_SUFFIXES):
        return "other"
    try:
        stat = path.stat()
        if not S_ISREG(stat.st_mode):  # reading a FIFO would wait for ever
            return "is not a regular file"
        raw = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    stem = unicodedata.normalize("NFC", _readable(path.name).rsplit(".", 1)[0])
    parsed = parse_markdown(text, stem, with_inline_tags=with_inline_tags)
    # An exact notebook path in the front matter (the exporter writes one when a name had to
    # change to be a safe folder name) beats the folder names.
    exact = [p for p in parsed.notebook.split("/") if p.strip()] if parsed.notebook else None
    folders = base + (exact if exact is not None else rel_dirs)
    try:
        nb_id = None
        if folders:
            key = "/".join(folders)
            if key not in notebook_ids:  # ensure_notebook walks every notebook: once per path
                notebook_ids[key] = vault.ensure_notebook(key)[0].id
            nb_id = notebook_ids[key]
        title = clean_title(parsed.title)
        if _body_key(nb_id, title, parsed.body) in existing:
            return "unchanged"
        modified = _to_ms(parsed.modified, stat.st_mtime)
        created = _to_ms(parsed.created, getattr(stat, "st_birthtime", stat.st_mtime))
        vault.import_note(
            title,
            parsed.body,
            notebook=nb_id,
            tags=parsed.tags,
            pinned=parsed.pinned,
            created=min(created, modified) if parsed.created is None else created,
            modified=modified,
            extra={EXTRA_KEY: parsed.foreign} if parsed.foreign else None,
        )
    except VaultError as exc:
        return str(exc)
    return "imported"


def import_markdown(
    vault: Vault,
    folder: Path,
    *,
    notebook: str | None = None,
    with_inline_tags: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import every Markdown file under `folder` as a note; folders become notebooks (under
    `notebook` if given). A file that cannot be read is reported in `skipped`, never fatal."""
    folder = folder.expanduser().absolute()
    try:
        is_folder = folder.is_dir()
        if is_folder:
            os.scandir(folder).close()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {folder}: {exc.strerror}") from None
    if not is_folder:
        raise InvalidInputError(f"{folder} is not a folder of Markdown files")
    existing = {_body_key(n.notebook, n.title, n.body) for n in vault.all_notes() if not n.in_trash}
    base = [p for p in (notebook or "").split("/") if p.strip()]
    unreadable: list[OSError] = []
    files = list(_markdown_files(folder, unreadable))
    notebooks_before = len(vault.notebooks())
    outcomes: dict[str, int] = {"imported": 0, "unchanged": 0, "other": 0}
    notebook_ids: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for start in range(0, len(files), IMPORT_BATCH):
        # One transaction per batch: one fsync per batch rather than per note, and the store
        # is never held long (the app stays responsive while an import runs in a worker).
        with vault.batch():
            for path, rel_dirs in files[start : start + IMPORT_BATCH]:
                outcome = _import_file(
                    vault, path, base, rel_dirs, existing, notebook_ids, with_inline_tags
                )
                if outcome in outcomes:
                    outcomes[outcome] += 1
                else:
                    skipped[_readable(str(path.relative_to(folder)))] = outcome
        if progress is not None:
            progress(min(start + IMPORT_BATCH, len(files)), len(files))
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
    imported, unchanged, other = outcomes["imported"], outcomes["unchanged"], outcomes["other"]
    return ImportReport(folder, imported, unchanged, created, skipped, other)
