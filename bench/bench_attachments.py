"""Attachments: attach and read back a 100 MB file, and opening a note with 20 attachments.

Floors, measured in the same run: `cp` of the same file (the least it costs to put a copy of
the bytes somewhere else, without fsync, in the kernel and without encryption), once for
attaching and once for reading back; `cp` then fsync of the copy and its folder (a durable
copy: attach fsyncs the blob and its folder); the same work as attach and read back in the
plainest single-threaded Python with no vault code (read, hash, secretstream in 1 MiB parts,
write; no fsync, no padding, no checks beyond the library's); the cryptography alone over the
same bytes in memory (attach must hash the file to name it, then seal it and check it did not
change meanwhile: two BLAKE3 passes and one secretstream pass; reading back decrypts only);
and opening the same note without attachments. Target (issue 16): attach and read back within
3x of `cp`, and a note with 20 attachments opens as fast as one without.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path

import blake3
from common import PASSWORD, SMOKE, WORK, fmt, table, timed
from nacl.bindings import (
    crypto_secretstream_xchacha20poly1305_init_pull,
    crypto_secretstream_xchacha20poly1305_init_push,
    crypto_secretstream_xchacha20poly1305_pull,
    crypto_secretstream_xchacha20poly1305_push,
    crypto_secretstream_xchacha20poly1305_state,
)

from vault.notes.vault import Vault
from vault.sealing import crypto
from vault.storage.blobs import SEGMENT_PARTS, WORKERS

OUT = WORK / "attachments"
SIZE = (2 if SMOKE else 100) * 1000 * 1000


def make_file(path: Path, size: int) -> None:
    """Bytes that differ in every MiB (so nothing is deduplicated or compressed away)."""
    piece = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        written, i = 0, 0
        while written < size:
            chunk = (i.to_bytes(8, "big") + piece[8:])[: size - written]
            fh.write(chunk)
            written += len(chunk)
            i += 1


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    src = OUT / "big.bin"
    make_file(src, SIZE)
    vault, _ = Vault.create(OUT / "v", PASSWORD, kdf=crypto.TEST_KDF, allow_weak_kdf=True)

    n = [0]

    def settle() -> None:
        """Before each timed run of a copy, attach or read back: no dirty pages left from the
        run before (or from a neighbour), so their writeback does not land in this one's time
        (an fsync on ext4 may wait for it)."""
        os.sync()

    def cp_in() -> None:
        n[0] += 1
        subprocess.run(["cp", str(src), str(OUT / f"cp-{n[0]}")], check=True)

    def cp_durable() -> None:
        n[0] += 1
        copy = OUT / f"cp-{n[0]}"
        subprocess.run(["cp", str(src), str(copy)], check=True)
        for path in (copy, OUT):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def clear_copies() -> None:
        for copy in OUT.glob("cp-*"):
            copy.unlink()

    # interleaved, so both see the same load; the copies go before the next round (their dirty
    # pages would otherwise be written back during the next measurement)
    plain, durable = [], []
    for _ in range(1 if SMOKE else 3):
        plain.append(timed(cp_in, repeat=1, setup=settle))
        durable.append(timed(cp_durable, repeat=1, setup=settle))
        clear_copies()
    copy_floor, durable_floor = sorted(plain)[len(plain) // 2], sorted(durable)[len(durable) // 2]

    def crypto_floor(hashes: int) -> None:
        """The least work sealing (or opening) takes: BLAKE3 over the bytes `hashes` times
        and secretstream over them once, from memory, nothing written."""
        state = crypto_secretstream_xchacha20poly1305_state()
        crypto_secretstream_xchacha20poly1305_init_push(state, b"k" * 32)
        with open(src, "rb") as fh:
            while piece := fh.read(1 << 20):
                for _ in range(hashes):
                    blake3.blake3(piece).digest()
                crypto_secretstream_xchacha20poly1305_push(state, piece, b"ad", 0)

    seal_floor = timed(lambda: crypto_floor(2), repeat=3)
    open_floor = timed(lambda: crypto_floor(0), repeat=3)

    def python_seal() -> None:
        """The plainest Python that does what attach must, with no vault code: read and hash
        the file (its name comes from its content), then read it again, hash it (the check
        that it did not change) and seal it in 1 MiB secretstream parts into a new file
        (no fsync, as `cp`); one thread."""
        first = blake3.blake3()
        with open(src, "rb") as fh:
            while piece := fh.read(1 << 20):
                first.update(piece)
        first.digest()
        check = blake3.blake3()
        state = crypto_secretstream_xchacha20poly1305_state()
        with open(src, "rb") as fh, open(OUT / "sealed.bin", "wb") as out:
            out.write(crypto_secretstream_xchacha20poly1305_init_push(state, b"k" * 32))
            while piece := fh.read(1 << 20):
                check.update(piece)
                out.write(crypto_secretstream_xchacha20poly1305_push(state, piece, b"ad", 0))
        check.digest()

    def python_open() -> None:
        """Read back the same way: read, open and check each part, write; one thread."""
        state = crypto_secretstream_xchacha20poly1305_state()
        with open(OUT / "sealed.bin", "rb") as fh, open(OUT / "opened.bin", "wb") as out:
            crypto_secretstream_xchacha20poly1305_init_pull(state, fh.read(24), b"k" * 32)
            while cipher := fh.read((1 << 20) + 17):
                plain, _ = crypto_secretstream_xchacha20poly1305_pull(state, cipher, b"ad")
                out.write(plain)

    python_seal_floor = timed(python_seal, repeat=3, setup=settle)
    python_open_floor = timed(python_open, repeat=3, setup=settle)

    def attach() -> None:
        # a new content each time, so nothing is deduplicated: the first MiB differs
        with open(src, "r+b") as fh:
            fh.write(os.urandom(16))
        note = vault.create_note(f"Big {n[0]}")
        n[0] += 1
        vault.attach(note.id, src)
        held.append(note.id)

    held: list[str] = []
    attach_time = timed(attach, repeat=3, setup=settle)
    note_id = held[-1]

    def read_back() -> None:
        with open(OUT / "back.bin", "wb") as out:
            vault.save_attachment(note_id, "big.bin", out, private=True)  # as `-o PATH`

    read_time = timed(read_back, repeat=3, setup=settle)
    assert (OUT / "back.bin").stat().st_size == SIZE

    tracemalloc.start()
    read_back()
    _, read_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # a note with 20 attachments opens as fast as one without
    small = OUT / "small"
    small.mkdir()
    plain = vault.create_note("Plain", "words " * 300)
    rich = vault.create_note("With files", "words " * 300)
    for i in range(20):
        f = small / f"scan-{i:02}.pdf"
        f.write_bytes(os.urandom(2000))
        vault.attach(rich.id, f)

    # The listing of blobs is trusted once the folder has been still for 2 s (a folder changed
    # within a timestamp tick could change again unseen); an app opens notes long after that.
    time.sleep(0 if SMOKE else 2.1)

    def open_note(nid: str) -> None:
        for _ in range(200):
            vault.note(nid)  # as the app opens a note: from the unlocked cache
            vault.attachments(nid)

    def read_note(nid: str) -> None:
        for _ in range(200):
            vault.read_note(nid)  # decrypted from the store (a partial view, `vault show`)
            vault.attachments(nid)

    open_plain = timed(lambda: open_note(plain.id), repeat=5) / 200
    open_rich = timed(lambda: open_note(rich.id), repeat=5) / 200
    read_plain = timed(lambda: read_note(plain.id), repeat=5) / 200
    read_rich = timed(lambda: read_note(rich.id), repeat=5) / 200
    vault.lock()

    def unlock() -> None:
        Vault.unlock(OUT / "v", password=PASSWORD).lock()

    unlock_time = timed(unlock, repeat=3)

    mb = SIZE / 1e6
    print(f"## Attachments ({mb:.0f} MB file; a note with 20 attachments)\n")
    print(
        table(
            [
                (f"attach a {mb:.0f} MB file", attach_time, copy_floor, "`cp` of the file"),
                ("read it back (verified)", read_time, copy_floor, "`cp` of the file"),
                (
                    f"attach a {mb:.0f} MB file",
                    attach_time,
                    durable_floor,
                    "`cp` + fsync of the copy",
                ),
                (
                    f"attach a {mb:.0f} MB file",
                    attach_time,
                    python_seal_floor,
                    "read + 2× BLAKE3 + seal + write, plain Python",
                ),
                (
                    "read it back (verified)",
                    read_time,
                    python_open_floor,
                    "read + open + write, plain Python",
                ),
                (
                    f"attach a {mb:.0f} MB file",
                    attach_time,
                    seal_floor,
                    "2× BLAKE3 + secretstream, in memory",
                ),
                (
                    "read it back (verified)",
                    read_time,
                    open_floor,
                    "secretstream, in memory",
                ),
                (
                    "attach + read back",
                    attach_time + read_time,
                    2 * copy_floor,
                    "two `cp` of the file",
                ),
                (
                    "open a note with 20 attachments and list them",
                    open_rich,
                    open_plain,
                    "the same, a note without",
                ),
                (
                    "decrypt it from the store and list them",
                    read_rich,
                    read_plain,
                    "the same, a note without",
                ),
            ]
        )
    )
    print(
        f"\nPeak Python memory while reading back {mb:.0f} MB: {read_peak / 2**20:.1f} MiB. "
        f"Unlocking the vault (4 notes, 21 blobs, tiny test KDF): {fmt(unlock_time)}. "
        f"Attach (version 3 blobs) hashes the file in 1 MiB pieces with BLAKE3 (the name), "
        f"then reads each piece again, checks its digest (the file did not change) and seals "
        f"it, each segment of {SEGMENT_PARTS} pieces its own secretstream written in place, on "
        f"{WORKERS} threads; it fsyncs the blob and its folder. Read back opens and checks "
        f"every segment on {WORKERS} threads, each writing its parts in place (the content "
        f"hash is checked by `vault check`). The plain-Python and in-memory floors run on one "
        f"thread."
    )
    shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
