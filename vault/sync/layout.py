"""Names and places inside the shared sync folder (docs/SYNC.md, "The folder").

    vault-sync.json                           written once: format, vault id, master key id
    keys/<device>/<hash>.slot                 each device's key slots, for `vault clone`
    log/<device>/<seq>-<hash>.seg             a device's sealed batches of operations
    log/<device>/<seq>-<hash>.snap            a device's compaction snapshot

Only the device named in a path ever writes under it, and a chain file never changes once it
is in place: its name carries a hash of its bytes, so a truncated or half-delivered copy is
recognised before anything is decrypted. Nothing here names an item, a title or a time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from vault.sealing import crypto

HEADER = "vault-sync.json"
FORMAT_NAME = "vault-sync"
FORMAT_VERSION = 2  # 2: log files carry format 2 (claims-bound) envelopes and sealed tombstones
READABLE_VERSIONS = (1, 2)  # a version 1 folder is upgraded in place by the first v2 device
# The header's version: 3 once a key rotation was published in the folder (rotation records
# under keys/, docs/SYNC.md "Key rotation"); the log files stay version 2.
FOLDER_VERSION = 3
FOLDER_VERSIONS = (1, 2, 3)
KEYS_DIR = "keys"
LOG_DIR = "log"

SEGMENT = "seg"
SNAPSHOT = "snap"
KINDS = (SEGMENT, SNAPSHOT)

SEQ_DIGITS = 10
HASH_HEX = 32

# Matched with fullmatch: `$` would also accept a trailing newline, and a name such as
# "<device id>\n" would then pass for a device (or a copy for one of our own files).
_CHAIN_NAME = re.compile(rf"(\d{{{SEQ_DIGITS}}})-([0-9a-f]{{{HASH_HEX}}})\.(seg|snap)")
_SLOT_NAME = re.compile(rf"([0-9a-f]{{{HASH_HEX}}})\.slot")
_HEX32 = re.compile(r"[0-9a-f]{32}")

# Files bigger than this are not read: no chain file comes near it, and a hostile or broken
# folder must not make us allocate without bound.
MAX_FILE_BYTES = 512 * 1024 * 1024


def content_hash(data: bytes) -> str:
    """The hash in a chain file's name: of its exact bytes (which are ciphertext)."""
    return crypto.blake2b(data, size=HASH_HEX // 2).hex()


def content_hasher() -> hashlib._Hash:
    """content_hash() fed in pieces: for checking a big file without holding it."""
    return hashlib.blake2b(digest_size=HASH_HEX // 2)


def is_device_id(name: str) -> bool:
    return bool(_HEX32.fullmatch(name))


@dataclass(frozen=True, order=True)
class ChainName:
    """What a canonical chain file name says (unverified until the bytes are read)."""

    seq: int
    hash: str
    kind: str

    @property
    def name(self) -> str:
        return chain_file_name(self.seq, self.hash, self.kind)


def chain_file_name(seq: int, digest: str, kind: str) -> str:
    return f"{seq:0{SEQ_DIGITS}d}-{digest}.{kind}"


def parse_chain_name(name: str) -> ChainName | None:
    """The canonical name of a chain file, or None for anything else (conflict copies made by
    a sync daemon, temporary files, strangers): those are judged by their content instead."""
    m = _CHAIN_NAME.fullmatch(name)
    if m is None:
        return None
    return ChainName(int(m.group(1)), m.group(2), m.group(3))


def slot_file_name(digest: str) -> str:
    return f"{digest}.slot"


def parse_slot_name(name: str) -> str | None:
    m = _SLOT_NAME.fullmatch(name)
    return m.group(1) if m else None


def is_ignored(name: str) -> bool:
    """Files we never look at: hidden ones (our own and the daemons' temporary files, Syncthing's
    .stfolder) and Office/OneDrive lock-style names."""
    return name.startswith((".", "~"))
