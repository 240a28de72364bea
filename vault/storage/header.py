"""The vault header (vault.json): the format name and version and the vault id, written last
when a vault is created, and the names of the store's files. A folder holding only what an
interrupted creation leaves is recognised and may be created over.
"""

from __future__ import annotations

import json
from pathlib import Path

from vault.errors import NotAVaultError, UnsupportedFormatError
from vault.fsutil import atomic_write, read_small

FORMAT_NAME = "vault"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # a version 1 vault is upgraded in place at its next unlock
HEADER = "vault.json"
KEYS_DIR = "keys"
DB_NAME = "store.sqlite"


def write_header(path: Path, vault_id: str) -> None:
    """Write vault.json (atomically) naming this program's format version."""
    header = {"format": FORMAT_NAME, "v": FORMAT_VERSION, "vault_id": vault_id}
    atomic_write(path / HEADER, (json.dumps(header, indent=2) + "\n").encode("ascii"))


def read_header(path: Path) -> tuple[str, int]:
    """The vault id and format version from vault.json, or a clear error saying why the folder
    is not a vault."""
    header_path = path / HEADER
    if not header_path.is_file():
        raise NotAVaultError(f"{path} is not a vault (it has no {HEADER})")
    try:
        doc = json.loads(read_small(header_path))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
            raise ValueError
    except (OSError, ValueError):
        raise NotAVaultError(f"{header_path} is damaged or not a vault header") from None
    v = doc.get("v")
    if v not in READABLE_VERSIONS or isinstance(v, bool):
        if isinstance(v, int) and not isinstance(v, bool) and v > FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"{path} uses vault format v{v}, newer than this program; upgrade vault"
            )
        raise NotAVaultError(f"{header_path} names an unknown format version {v!r}")
    vault_id = doc.get("vault_id")
    if not (isinstance(vault_id, str) and len(vault_id) == 32 and _hex(vault_id)):
        raise NotAVaultError(f"{header_path} is damaged (bad vault id)")
    return vault_id, v


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


_CREATION_LEFTOVERS = {KEYS_DIR, DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}


def is_aborted_creation(path: Path) -> bool:
    """A folder holding only what an interrupted `vault init` leaves (no header yet)."""
    names = {p.name for p in path.iterdir() if not p.name.startswith(".")}
    return bool(names) and names <= _CREATION_LEFTOVERS and not (path / HEADER).exists()


def remove_aborted_creation(path: Path) -> None:
    import shutil

    for p in path.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
