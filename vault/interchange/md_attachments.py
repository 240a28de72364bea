"""Attachments in Markdown export and import: files next to the notes, links rewritten.

Inside the vault a note refers to its attachment NAME as `![alt](attachment:NAME)` (an image)
or `[text](attachment:NAME)` (any file), NAME percent-encoded (docs/FORMAT.md, "Links to
attachments"). Other tools know nothing of that scheme, so

* export writes each attachment to `attachments/<note>/<file>` under the export folder (one
  folder per note, named like the note's file; file names made safe like note names) and
  rewrites the note's links to relative paths. When a file name had to differ from the
  attachment's name, the note's front matter says so (`attachment names: ["FILE/NAME"]`; '/'
  is in neither) and import gives the attachment its name back;
* import brings in the files a note links to: Obsidian embeds and links (`![[photo.png]]`,
  `![[doc.pdf|alias]]`, `[[doc.pdf]]`) and Markdown links and images (`[text](files/a.pdf)`,
  `![alt](<my photo.png>)`, percent-encoded or not), and rewrites those links to the
  `attachment:` form. A link resolves only to a file found by walking the imported folder
  (hidden folders and folder links are never entered); the file itself is opened without
  following a link, only if regular (a FIFO never blocks) and at most `max_bytes` long.
  Links to anything else (other notes, web pages, paths outside the folder) are left as written.

Links inside fenced code blocks and inline code are text, not links, and are left alone.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from vault.errors import VaultError
from vault.interchange.backup_files import size_text
from vault.interchange.frontmatter import safe_filename
from vault.notes.attachments import (
    attachment_link,
    clean_attachment_name,
    guess_type,
    parse_attachment_link,
)
from vault.storage.blobs import BlobRef

ATTACHMENTS_DIR = "attachments"  # at the export's root
NAMES_KEY = "attachment names"  # front matter: ["FILE/NAME", ...] when a file was renamed
MAX_ATTACHMENT_BYTES = 256 * 1024 * 1024  # per file, on import

# `![[target#heading|alias]]`: Obsidian's embed; without the '!', its link.
_EMBED = (
    r"(?P<wbang>!?)\[\[(?P<embed>[^\[\]|#^\n]+)(?:#[^\[\]|\n]*)?"
    r"(?:\|(?P<alias>[^\[\]\n]*))?\]\]"
)
# `![alt](target "title")` and `[text](target)`; the target bare (one level of parentheses) or
# in angle brackets. Link text with nested brackets is not a link we rewrite.
_LINK = (
    r"(?P<bang>!?)\[(?P<text>(?:[^\[\]\\\n]|\\.)*)\]"
    r"\([ \t]*(?P<target><[^<>\n]*>|(?:[^\s()<>\\]|\\.|\([^\s()<>]*\))+)"
    r"(?P<title>(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'))?)[ \t]*\)"
)
_LINKS = re.compile(f"{_EMBED}|{_LINK}")
_FENCE = re.compile(r"[ ]{0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SIZE = re.compile(r"[0-9]+(?:x[0-9]+)?")  # `![[photo.png|300]]` sets a width, not a caption
_ESCAPED = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Link:
    """One link found in a note: its target as written and the text to show."""

    target: str
    text: str | None  # alt text, link text or embed alias; None for a bare embed
    wiki: bool  # Obsidian's `[[...]]` or `![[...]]`
    shown: bool = False  # with a '!': an image or embed shown in place


def _code_spans(body: str) -> list[tuple[int, int]]:
    """(start, end) of fenced code blocks and inline code spans, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    fence: str | None = None
    fence_start = 0
    for line in body.splitlines(keepends=True):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                spans.append((fence_start, pos + len(line)))
                fence = None
        elif opened:
            fence, fence_start = opened.group(1), pos
        else:
            spans.extend((pos + m.start(), pos + m.end()) for m in _INLINE_CODE.finditer(line))
        pos += len(line)
    if fence is not None:
        spans.append((fence_start, pos))
    return spans


def rewrite_links(body: str, replace: Callable[[Link], str | None]) -> str:
    """`body` with each link outside code replaced by `replace(link)`, or kept when it
    returns None."""
    if "[" not in body:
        return body
    spans = _code_spans(body) if "`" in body or "~" in body else []
    starts = [start for start, _ in spans]
    out: list[str] = []
    done = 0  # body[:done] is in `out`
    i = body.find("[")
    # Matching at each '[' (and the '!' before it) rather than searching the whole text:
    # most of a note is prose, where a search would try the pattern at every character.
    while i != -1:
        if i and body[i - 1] == "\\":
            # An escaped '[' starts no link. Skipping it also keeps the scan linear: the link
            # text a match attempt reads runs only over escaped brackets, so no two attempts
            # read the same text ("[a\\[a\\[a..." would otherwise be quadratic).
            i = body.find("[", i + 1)
            continue
        start = i - 1 if i > done and body[i - 1] == "!" else i
        match = _LINKS.match(body, start)
        if match is None:
            i = body.find("[", i + 1)
            continue
        k = bisect.bisect_right(starts, start) - 1
        if k < 0 or start >= spans[k][1]:  # not inside code
            new = _replacement(match, replace)
            if new is not None:
                out.append(body[done:start])
                out.append(new)
                done = match.end()
        i = body.find("[", match.end())
    out.append(body[done:])
    return "".join(out)


def _replacement(match: re.Match[str], replace: Callable[[Link], str | None]) -> str | None:
    if match.group("embed") is not None:
        link = Link(match.group("embed").strip(), match.group("alias"), True, bool(match["wbang"]))
        return replace(link)
    new = replace(Link(match.group("target"), match.group("text"), False, bool(match["bang"])))
    if new is None:
        return None
    return f"{match.group('bang')}[{match.group('text')}]({new}{match.group('title')})"


# --- export ------------------------------------------------------------------------------------


def export_path(rel_file: str, note_dir: str) -> str:
    """The link target, relative to the note's folder, of the exported file `rel_file` (both
    relative to the export's root, '/'-separated), percent-encoded for Markdown."""
    return quote(posixpath.relpath(rel_file, note_dir or "."), safe="/")


def exported_body(body: str, targets: dict[str, str]) -> str:
    """`body` with `attachment:NAME` links to the exported files `targets[NAME]`."""

    def replace(link: Link) -> str | None:
        if link.wiki:
            return None
        name = parse_attachment_link(link.target)
        return targets.get(name) if name is not None else None

    return rewrite_links(body, replace)


def file_names(names: list[str], taken: set[str]) -> list[str]:
    """A portable, distinct file name for each attachment name, in one folder."""
    result = []
    for name in names:
        stem, ext = posixpath.splitext(name)
        if not re.fullmatch(r"\.[A-Za-z0-9]{1,16}", ext):
            stem, ext = name, ""
        result.append(safe_filename(stem, taken, ext=ext))
    return result


# --- import ------------------------------------------------------------------------------------


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass
class FolderFiles:
    """The files of an imported folder that are not notes, for links to resolve to."""

    root: Path
    max_bytes: int = MAX_ATTACHMENT_BYTES
    by_path: dict[str, Path] = field(default_factory=dict)  # NFC '/'-path -> file
    by_name: dict[str, list[str]] = field(default_factory=dict)  # NFC name -> paths
    refused: dict[str, str] = field(default_factory=dict)  # path -> why it cannot be attached
    attached: set[str] = field(default_factory=set)  # paths brought in by at least one note

    def add(self, rel: str, path: Path) -> None:
        key = _nfc(rel)
        self.by_path[key] = path
        self.by_name.setdefault(posixpath.basename(key), []).append(key)

    def resolve(self, link: Link, note_dir: str) -> str | None:
        """The folder's file (its key) that `link`, in a note in `note_dir`, refers to."""
        target = link.target
        if link.wiki:
            candidates = [target]
        else:
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            else:
                target = _ESCAPED.sub(r"\1", target)
            if _SCHEME.match(target) or target.startswith(("/", "#", "\\")):
                return None  # a URL, an attachment: link already, an absolute path, an anchor
            target = target.split("#", 1)[0].split("?", 1)[0]
            candidates = [unquote(target), target]
        for candidate in candidates:
            candidate = _nfc(candidate.strip())
            if not candidate:
                continue
            for base in (note_dir, "") if link.wiki else (note_dir,):
                path = posixpath.normpath(posixpath.join(base, candidate))
                if path == ".." or path.startswith(("../", "/")):
                    continue  # outside the folder: never
                if path in self.by_path:
                    return path
            if link.wiki and "/" not in candidate:
                # Obsidian finds `![[photo.png]]` anywhere in the vault: the note's own folder
                # first, else the shortest path.
                found = self.by_name.get(candidate, [])
                here = [p for p in found if posixpath.dirname(p) == note_dir]
                if here or found:
                    return (here or sorted(found, key=lambda p: (p.count("/"), p)))[0]
        return None

    def check(self, key: str) -> str | None:
        """Why the file cannot be attached, or None when it can."""
        if key not in self.refused:
            try:
                with self.opened(key):
                    self.refused[key] = ""
            except _Refused as exc:
                self.refused[key] = str(exc)
        return self.refused[key] or None

    @contextlib.contextmanager
    def opened(self, key: str) -> Iterator[Path]:
        """A path to the file that cannot change under us: the file is opened without
        following a symbolic link or waiting on a FIFO, checked, and on Linux handed on as
        /proc/self/fd/N (the file we checked, whatever its name points at by then)."""
        path = self.by_path[key]
        try:
            fd = _open_beneath(self.root, path.relative_to(self.root).parts)
        except OSError as exc:
            if os.path.islink(path):
                raise _Refused("is a symbolic link (not followed)") from None
            raise _Refused(f"cannot be read ({exc.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _Refused("is not a regular file")
            if info.st_size > self.max_bytes:
                limit = size_text(self.max_bytes)
                raise _Refused(f"is larger than {limit}, the most an import attaches")
            pinned = Path(f"/proc/self/fd/{fd}")
            yield pinned if pinned.exists() else path
        finally:
            os.close(fd)


class _Refused(Exception):
    pass


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_beneath(root: Path, parts: tuple[str, ...]) -> int:
    """Open root/parts... for reading, following no symbolic link on the way (a folder
    swapped for a link since the walk would lead out of the imported folder)."""
    if os.open not in os.supports_dir_fd or not _NOFOLLOW:
        return os.open(root.joinpath(*parts), _FILE_FLAGS)
    folder_flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            inner = os.open(part, folder_flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    finally:
        os.close(fd)


def attachment_name(file_name: str, taken: set[str]) -> str:
    """A valid attachment name for a file, distinct within the note (`taken`, updated)."""
    name = clean_attachment_name(file_name, strict=False)
    if not name:
        cleaned = "".join(
            "-" if c in "/\\" or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") else c
            for c in _nfc(file_name)
        )
        name = clean_attachment_name(cleaned.strip()[:255], strict=False) or "attachment"
    stem, ext = posixpath.splitext(name)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem[: 250 - len(ext)]} ({n}){ext}"
    taken.add(candidate)
    return candidate


@dataclass
class NoteFiles:
    """The attachments one imported note brings: (folder key, attachment name)."""

    files: list[tuple[str, str]] = field(default_factory=list)


def imported_body(
    body: str, note_dir: str, folder: FolderFiles, renamed: dict[str, str]
) -> tuple[str, NoteFiles]:
    """`body` with its links to the folder's files rewritten to `attachment:` links, and the
    files to attach. `renamed` maps exported file names back to attachment names."""
    wanted = NoteFiles()
    if not folder.by_path:  # a folder of notes only: nothing to link to
        return body, wanted
    names: dict[str, str] = {}  # folder key -> attachment name
    taken: set[str] = set()

    def replace(link: Link) -> str | None:
        key = folder.resolve(link, note_dir)
        if key is None or folder.check(key) is not None:
            return None
        if key not in names:
            base = posixpath.basename(key)
            names[key] = attachment_name(renamed.get(base, base), taken)
            wanted.files.append((key, names[key]))
        name = names[key]
        if not link.wiki:
            return "attachment:" + quote(name, safe="")
        alias = (link.text or "").strip()
        alt = name if not alias or _SIZE.fullmatch(alias) else alias
        image = link.shown and guess_type(name).startswith("image/")
        return attachment_link(name, image=image, alt=alt)

    return rewrite_links(body, replace), wanted


def renamed_files(value: object) -> dict[str, str]:
    """The `attachment names` front matter value: exported file name -> attachment name."""
    result: dict[str, str] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.count("/") == 1:
                file, name = item.split("/")
                if clean_attachment_name(name, strict=False) == name:
                    result[_nfc(file)] = name
    return result


def wanted_bytes(folder: FolderFiles, wanted: NoteFiles) -> int:
    """About how many bytes a note's files hold (what sealing them costs); 0 if unknown."""
    total = 0
    for key, _ in wanted.files:
        with contextlib.suppress(OSError):
            total += os.lstat(folder.by_path[key]).st_size
    return total


def seal_all(
    seal: Callable[[Path], BlobRef],
    folder: FolderFiles,
    wanted: NoteFiles,
    problems: dict[str, str],
) -> dict[str, BlobRef]:
    """Seal each wanted file (`seal`: the vault's `seal_file`); a file that fails is in
    `problems` and missing from the result."""
    sealed: dict[str, BlobRef] = {}
    for key, _ in wanted.files:
        try:
            with folder.opened(key) as path:
                sealed[key] = seal(path)
        except (_Refused, VaultError) as exc:
            problems[key] = str(exc)
    return sealed


def attach_all(
    attach_sealed: Callable[[BlobRef, str], object],
    folder: FolderFiles,
    wanted: NoteFiles,
    sealed: dict[str, BlobRef],
    problems: dict[str, str],
) -> int:
    """Attach each wanted file `seal_all` sealed; returns how many. A file that fails is in
    `problems`."""
    done = 0
    for key, name in wanted.files:
        ref = sealed.get(key)
        if ref is None:
            continue  # it could not be sealed: `problems` says why
        try:
            attach_sealed(ref, name)
        except VaultError as exc:
            problems[key] = str(exc)
            continue
        folder.attached.add(key)
        done += 1
    return done
