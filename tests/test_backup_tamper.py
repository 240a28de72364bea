"""Damaged and hostile backup files: a tamper table (flipped bytes, truncation, reordered,
dropped, duplicated or foreign parts, foreign headers, appended bytes), a process killed while
writing a backup, and a leak scan of backup files for marker strings.

Every damaged file must be a clear one-line error from verify, restore and merge alike, and
must change nothing: no restored folder appears, no operation is merged.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD, vault_command
from vault.errors import AuthError, BackupError, VaultError
from vault.interchange import backup, backup_format
from vault.interchange.backup import (
    create_backup,
    list_backups,
    merge_backup,
    restore_backup,
    verify_backup,
)
from vault.notes.vault import Vault
from vault.sealing.crypto import TEST_KDF
from vault.storage.store import Op

MARKER = "ZQXBACKUPMARKER"


def bulk_notes(vault: Vault, count: int, body: str, start: int = 0) -> None:
    """Many sealed notes in one store transaction (fast), through the real seal and ingest."""
    ops = []
    for i in range(start, start + count):
        item = f"{i:032x}"
        payload = {"kind": "note", "title": f"note {i}", "body": body}
        ops.append(vault.seal_op("note", item, payload, (), op_id=item))
    vault.store.ingest(ops)
    vault.refresh()


@dataclass
class Layout:
    data: bytes
    prefix: int  # bytes before the secretstream header
    part: int  # bytes per part on disk

    @property
    def first(self) -> int:
        return self.prefix + 24

    def parts(self) -> list[bytes]:
        body = self.data[self.first :]
        return [body[i : i + self.part] for i in range(0, len(body), self.part)]

    def head(self) -> bytes:
        return self.data[: self.first]

    def with_parts(self, parts: list[bytes]) -> bytes:
        return self.head() + b"".join(parts)


def layout(path: Path) -> Layout:
    header = backup.read_backup_header(path)
    return Layout(path.read_bytes(), len(header.prefix), header.chunk + 17)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A vault, two backups of it, and a backup of another vault (same password)."""
    root = tmp_path_factory.mktemp("tamper")
    vault, _ = Vault.create(root / "vault", PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    other, _ = Vault.create(root / "other", PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    try:
        bulk_notes(vault, 150, "some text " * 150)
        bulk_notes(other, 150, "other text " * 150)
        a = create_backup(vault, root / "a.vbak").path
        a2 = create_backup(vault, root / "a2.vbak").path
        b = create_backup(other, root / "b.vbak").path
    finally:
        vault.lock()
        other.lock()
    assert len(layout(a).parts()) >= 5
    return {"vault": root / "vault", "a": a, "a2": a2, "b": b}


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def flip_in_header(field: str, nth: int = 0) -> Callable[[Layout, dict], bytes]:
    """Change one hex digit of a header value to another hex digit (still valid JSON)."""

    def tamper(lay: Layout, _: dict) -> bytes:
        start = lay.data.index(f'"{field}": "'.encode()) + len(field) + 5 + nth
        old = lay.data[start : start + 1]
        new = b"0" if old != b"0" else b"1"
        return lay.data[:start] + new + lay.data[start + 1 :]

    return tamper


def rewrite_header(change: Callable[[dict], None]) -> Callable[[Layout, dict], bytes]:
    """A well-formed header with different content, and the original stream."""

    def tamper(lay: Layout, _: dict) -> bytes:
        doc = json.loads(lay.data[12 : lay.prefix])
        change(doc)
        header = json.dumps(doc, indent=1).encode()
        return b"VAULTBAK" + struct.pack(">I", len(header)) + header + lay.data[lay.prefix :]

    return tamper


def password_slot(doc: dict) -> dict:
    return next(s for s in doc["slots"] if s["type"] == "password")


def drop_recovery_slot(doc: dict) -> None:
    doc["slots"] = [s for s in doc["slots"] if s["type"] != "recovery"]


def flip_password_slot_cipher(lay: Layout, _: dict) -> bytes:
    doc = json.loads(lay.data[12 : lay.prefix])
    slot = next(s for s in doc["slots"] if s["type"] == "password")
    start = lay.data.index(slot["cipher"].encode()) + 3
    return (
        lay.data[:start]
        + (b"A" if lay.data[start : start + 1] != b"A" else b"B")
        + lay.data[start + 1 :]
    )


def part_from(name: str, index: int) -> Callable[[Layout, dict], bytes]:
    def tamper(lay: Layout, others: dict) -> bytes:
        parts = lay.parts()
        parts[index] = layout(others[name]).parts()[index]
        return lay.with_parts(parts)

    return tamper


def head_from(name: str) -> Callable[[Layout, dict], bytes]:
    def tamper(lay: Layout, others: dict) -> bytes:
        return layout(others[name]).head() + b"".join(lay.parts())

    return tamper


def swapped(i: int, j: int) -> Callable[[Layout, dict], bytes]:
    def tamper(lay: Layout, _: dict) -> bytes:
        parts = lay.parts()
        parts[i], parts[j] = parts[j], parts[i]
        return lay.with_parts(parts)

    return tamper


FIRST_PART = r"header or first part fails to verify"
PART = r"part \d+ fails to verify"
TRUNCATED = r"is truncated"
SLOT = r"damaged: key slot"

TAMPER_TABLE: dict[str, tuple[Callable[[Layout, dict], bytes], str]] = {
    "flipped magic": (lambda lay, _: flip(lay.data, 0), r"is not a vault backup"),
    "flipped header length": (lambda lay, _: flip(lay.data, 11), r"damaged|truncated"),
    "flipped header JSON syntax": (
        lambda lay, _: flip(lay.data, 12),
        r"header is not readable",
    ),
    "vault id changed in header": (flip_in_header("vault_id", 5), SLOT),
    "backup id changed in header": (flip_in_header("backup_id", 7), FIRST_PART),
    "creation time changed in header": (flip_in_header("created", 3), FIRST_PART),
    "recovery slot dropped from header": (rewrite_header(drop_recovery_slot), FIRST_PART),
    "slots multiplied in header (Argon2 runs before any check)": (
        rewrite_header(lambda d: d.update(slots=d["slots"] * 9)),
        r"implausibly many key slots",
    ),
    "slot asks for 8 GiB of Argon2 memory": (
        rewrite_header(lambda d: password_slot(d)["kdf"].update(m=8 * 1024 * 1024)),
        SLOT + r" asks for Argon2 memory",
    ),
    "slot asks for 65 Argon2 passes": (
        rewrite_header(lambda d: password_slot(d)["kdf"].update(t=65)),
        SLOT + r" asks for Argon2 time cost",
    ),
    "chunk size changed in header": (
        rewrite_header(lambda d: d["stream"].update(chunk=32768)),
        FIRST_PART + "|truncated",
    ),
    "password slot cipher changed": (flip_password_slot_cipher, SLOT),
    "flipped secretstream header": (lambda lay, _: flip(lay.data, lay.prefix + 3), FIRST_PART),
    "flipped byte in part 1": (lambda lay, _: flip(lay.data, lay.first + 100), FIRST_PART),
    "flipped byte in part 3": (lambda lay, _: flip(lay.data, lay.first + 2 * lay.part + 7), PART),
    "flipped byte in the last part": (lambda lay, _: flip(lay.data, len(lay.data) - 30), PART),
    "flipped last byte (tag)": (lambda lay, _: flip(lay.data, len(lay.data) - 1), PART),
    "empty file": (lambda lay, _: b"", r"is not a vault backup"),
    "truncated inside the magic": (lambda lay, _: lay.data[:4], r"is not a vault backup"),
    "truncated inside the header": (lambda lay, _: lay.data[: lay.prefix - 20], TRUNCATED),
    "truncated before the stream header": (lambda lay, _: lay.data[: lay.prefix + 10], TRUNCATED),
    "truncated before the first part": (lambda lay, _: lay.head(), TRUNCATED),
    "truncated inside part 2": (lambda lay, _: lay.data[: lay.first + lay.part + 500], TRUNCATED),
    "truncated at a part boundary": (
        lambda lay, _: lay.data[: lay.first + 2 * lay.part],
        TRUNCATED,
    ),
    "last byte cut off": (lambda lay, _: lay.data[:-1], TRUNCATED),
    "parts 1 and 2 swapped": (swapped(0, 1), FIRST_PART),
    "parts 2 and 3 swapped": (swapped(1, 2), PART),
    "last two parts swapped": (swapped(-2, -1), PART),
    "part 2 dropped": (lambda lay, _: lay.with_parts(lay.parts()[:1] + lay.parts()[2:]), PART),
    "part 2 duplicated": (
        lambda lay, _: lay.with_parts(lay.parts()[:2] + lay.parts()[1:]),
        PART,
    ),
    "last part dropped": (lambda lay, _: lay.with_parts(lay.parts()[:-1]), TRUNCATED),
    "one byte appended": (lambda lay, _: lay.data + b"\x00", r"data after its last part"),
    "last part appended again": (
        lambda lay, _: lay.data + lay.parts()[-1],
        r"data after its last part",
    ),
    "part 2 from another backup of the same vault": (part_from("a2", 1), PART),
    "part 2 from another vault's backup": (part_from("b", 1), PART),
    "last part from another backup of the same vault": (part_from("a2", -1), PART),
    "header of another backup of the same vault": (head_from("a2"), FIRST_PART),
    "header of another vault's backup": (head_from("b"), FIRST_PART),
}


def store_version_count(folder: Path) -> int:
    with Vault.unlock(folder, password=PASSWORD) as vault:
        return vault.store.counts()["versions"]


@pytest.mark.parametrize("case", list(TAMPER_TABLE))
def test_tampered_backup_is_a_clear_error_and_changes_nothing(
    case: str, files: dict[str, Path], tmp_path: Path
) -> None:
    tamper, expected = TAMPER_TABLE[case]
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "tampered.vbak"
    bad.write_bytes(tamper(layout(files["a"]), files))

    for secret in ({"password": PASSWORD}, {"password": PASSWORD, "open_items": False}):
        with pytest.raises(VaultError) as caught:
            verify_backup(bad, **secret)
        message = str(caught.value)
        assert isinstance(caught.value, BackupError | AuthError), (case, message)
        assert re.search(expected, message), (case, message)
        assert "\n" not in message
        assert str(bad) in message or isinstance(caught.value, AuthError), message

    target = work / "restored"
    with pytest.raises(VaultError):
        restore_backup(bad, target, password=PASSWORD)
    assert [p.name for p in work.iterdir()] == ["tampered.vbak"]  # no (half-)restored folder

    before = store_version_count(files["vault"])
    with Vault.unlock(files["vault"], password=PASSWORD) as vault, pytest.raises(VaultError):
        merge_backup(vault, bad)
    assert store_version_count(files["vault"]) == before


def test_the_untampered_files_are_good(files: dict[str, Path]) -> None:
    """The control for the table: each file verifies, so each failure above is the tamper's."""
    for name in ("a", "a2", "b"):
        assert verify_backup(files[name], password=PASSWORD).live["note"] == 150


class FailingReader(io.BytesIO):
    """A file whose disk fails (EIO) once reading reaches `fail_at`: a dying drive or a USB
    stick pulled out mid-verify."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        super().__init__(data)
        self.fail_at = fail_at

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or self.tell() + n > self.fail_at:
            raise OSError(errno.EIO, "Input/output error")
        return super().read(n)


def test_a_read_error_is_a_one_line_backup_error(files: dict[str, Path]) -> None:
    data = files["a"].read_bytes()
    header = backup.read_backup_header(files["a"])
    with Vault.unlock(files["vault"], password=PASSWORD) as vault:
        master_key = vault.master_key
    for fail_at in (4, len(header.prefix) + 10, len(data) // 2, len(data)):
        fh = FailingReader(data, fail_at)
        with pytest.raises(BackupError, match=r"^cannot read a\.vbak: Input/output error$"):
            found = backup_format.read_header(fh, "a.vbak")
            for _ in backup_format.read_records(fh, found, master_key, "a.vbak"):
                pass


def test_a_fifo_or_a_device_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.vbak"
    os.mkfifo(fifo)

    def hung(*_: object) -> None:
        raise AssertionError("opening a FIFO waited for a writer")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        for path in (fifo, Path("/dev/zero")):
            with pytest.raises(BackupError, match="not a regular file"):
                verify_backup(path, password=PASSWORD)
            with pytest.raises(BackupError, match="not a regular file"):
                restore_backup(path, tmp_path / "r", password=PASSWORD)
        with pytest.raises(BackupError, match="is a folder"):
            verify_backup(tmp_path, password=PASSWORD)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not (tmp_path / "r").exists()


def test_a_damaged_item_inside_a_whole_stream_is_reported_and_left_out(
    vault: Vault, tmp_path: Path
) -> None:
    """A vault that already held a damaged envelope: its backup verifies as a stream but says
    which item does not open, and restore leaves that version out instead of failing."""
    good = vault.create_note("good", "fine")
    bad = vault.create_note("bad", "will break")
    envelope = json.loads(vault.store.item(bad.id).envelope)
    envelope["cipher"] = envelope["cipher"][:-8] + "AAAAAAA="
    vault.store.ingest(
        [Op("e" * 32, bad.id, "note", (bad.version,), False, json.dumps(envelope), "d" * 32)]
    )
    out = create_backup(vault, tmp_path / "b.vbak").path
    report = verify_backup(out, password=PASSWORD)
    assert not report.ok and list(report.damaged) == [bad.id]
    restored = restore_backup(out, tmp_path / "r", password=PASSWORD)
    assert list(restored.damaged) == [bad.id]
    with Vault.unlock(tmp_path / "r", password=PASSWORD) as copy:
        assert copy.note(good.id).body == "fine"
        assert copy.note(bad.id).body == "will break"  # the older, intact version
        assert copy.check().ok


# --- a process killed while writing a backup ------------------------------------------------------


def assert_no_valid_backup_left(folder: Path, out: Path) -> Path:
    """After a kill: the backup's name does not exist, only a hidden temporary file does, and
    nothing treats that file as a backup."""
    assert not out.exists()
    leftovers = [p for p in folder.iterdir() if p.name.startswith(f".{out.name}.")]
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp"), leftovers
    tmp = leftovers[0]
    assert list_backups(folder) == []
    with pytest.raises(BackupError, match="truncated"):
        verify_backup(tmp, password=PASSWORD)
    with pytest.raises(BackupError, match="truncated"):
        restore_backup(tmp, folder / "restored", password=PASSWORD)
    assert not (folder / "restored").exists()
    # even renamed to look like a backup, it is not one
    renamed = folder / "looks-like-one.vbak"
    renamed.write_bytes(tmp.read_bytes())
    assert [b.problem for b in list_backups(folder)] == [None]  # its header reads fine...
    with pytest.raises(BackupError, match="truncated"):
        verify_backup(renamed, password=PASSWORD)  # ...but it is not whole
    renamed.unlink()
    assert MARKER.encode() not in tmp.read_bytes()
    return tmp


def big_vault(path: Path) -> None:
    vault, _ = Vault.create(path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault:
        bulk_notes(vault, 3000, f"{MARKER} " + "x" * 12000)


def test_killing_vault_backup_create_leaves_no_half_file(cli: CLI, tmp_path: Path) -> None:
    """SIGKILL a real `vault backup create` while it writes (seen by its temporary file)."""
    big_vault(cli.vault_dir)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "big.vbak"
    proc = subprocess.Popen(
        [*vault_command(), "backup", "create", str(out)],
        env=cli.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        tmp = [p for p in folder.iterdir() if p.name.endswith(".tmp")]
        if tmp and tmp[0].stat().st_size > 1024 * 1024:
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    assert killed, "the backup finished before it could be killed; make the vault bigger"
    assert proc.returncode == -signal.SIGKILL
    assert_no_valid_backup_left(folder, out)
    # the leftover does not stand in the way of the next backup
    cli("backup", "create", str(out), check=True)
    assert verify_backup(out, password=PASSWORD).live["note"] == 3000


CRASH_SCRIPT = """
import os, signal, sys
from pathlib import Path
from vault.interchange.backup import create_backup
from vault.notes.vault import Vault

vault = Vault.unlock(Path(sys.argv[1]), password=sys.argv[3])

def progress(done, total):
    if done >= total // 2:  # half-way: die as a power cut would, with no clean-up
        os.kill(os.getpid(), signal.SIGKILL)

create_backup(vault, Path(sys.argv[2]), progress=progress)
"""


def test_a_crash_half_way_through_create_backup_leaves_no_half_file(tmp_path: Path) -> None:
    """The deterministic variant: the process kills itself at the half-way progress report."""
    big_vault(tmp_path / "vault")
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "half.vbak"
    result = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(tmp_path / "vault"), str(out), PASSWORD],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    tmp = assert_no_valid_backup_left(folder, out)
    assert tmp.stat().st_size > 10 * 1024 * 1024  # it really was half-way through


# --- leak scan -----------------------------------------------------------------------------------


def scan(paths: list[Path]) -> list[str]:
    needles = [
        MARKER.encode(),
        MARKER.lower().encode(),
        MARKER.encode("utf-16-le"),
        MARKER.encode("utf-16-be"),
    ]
    found = []
    for root in paths:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def test_no_marker_in_backups_or_anything_made_from_them(cli: CLI, tmp_path: Path) -> None:
    recovery = cli.init()
    for i in range(4):
        cli(
            "new",
            f"{MARKER} title {i}",
            "--notebook",
            f"{MARKER}book/{MARKER}sub",
            "--tag",
            f"{MARKER}tag{i}",
            input=f"# {MARKER}\n\nbody {MARKER} {i}\n",
            check=True,
        )
    cli("edit", f"{MARKER} title 0", input=f"edited {MARKER}", check=True)
    cli("rm", f"{MARKER} title 1", "--purge", "--yes", check=True)
    assert MARKER in cli("ls", check=True).stdout  # the marker is really in there

    full = tmp_path / "full.vbak"
    heads = tmp_path / "heads.vbak"
    outputs = [
        cli("backup", "create", str(full), check=True),
        cli("backup", "create", str(heads), "--no-history", check=True),
        cli("backup", "create", check=True),  # into the backup folder
        cli("backup", "list", check=True),
        cli("backup", "verify", str(full), check=True),
        cli("backup", "verify", str(full), "--json", check=True),
        cli("backup", "verify", str(heads), "--recovery", VAULT_RECOVERY_KEY=recovery, check=True),
        cli("backup", "restore", str(full), "--vault", str(tmp_path / "r1"), check=True),
        cli("backup", "restore", str(full), "--json", check=True),  # merge into the vault
    ]
    for result in outputs:
        assert MARKER not in result.stdout + result.stderr
    in_folder = list((tmp_path / "home" / "data" / "vault" / "backups").glob("*.vbak"))
    assert len(in_folder) == 1
    # everything under tmp_path: the vault, the backups, the restored vault, the backup folder
    assert scan([tmp_path]) == []
    # a restored vault is a real vault holding the marker, sealed
    restored = cli("ls", VAULT_DIR=str(tmp_path / "r1"), check=True)
    assert restored.stdout.count(MARKER) >= 3
