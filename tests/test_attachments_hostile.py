"""Attachments attacked from outside: a note (from another device, a backup or an imported
Markdown folder) whose attachment names are chosen to steer `vault attachment get`."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import CLI, vault_command

# Valid attachment names (clean_attachment_name keeps them) that mean something else to a
# command line or a folder: the default target of `get` is the name in the current folder.
STEERING_NAMES = ["-", "docs", "~", "...", ".hidden", " -"]


def _get_in(cli: CLI, cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*vault_command(), "attachment", "get", "--", *args],
        capture_output=True,  # stdout is a pipe: nothing refuses bytes there
        env=cli.env(),
        cwd=cwd,
        start_new_session=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", STEERING_NAMES)
def test_get_without_output_writes_exactly_the_named_file(
    cli: CLI, tmp_path: Path, name: str
) -> None:
    """Without -o the file goes to NAME in the current folder and nowhere else: a name "-"
    must not send the bytes to stdout, a name equal to a folder must not write into it."""
    cli.init()
    cli("new", "N", "--json", input="body", check=True)
    source = tmp_path / "secret.bin"
    marker = b"MARKER-ATTACHMENT-BYTES-" * 100
    source.write_bytes(marker)
    added = json.loads(cli("attach", "N", str(source), "--name", name, "--json", check=True).stdout)
    stored = added[0]["name"]
    work = tmp_path / "work"
    work.mkdir()
    (work / "docs").mkdir()  # a folder a hostile name may equal
    result = _get_in(cli, work, "N", stored)
    assert marker not in result.stdout, "the bytes went to stdout, not to a file"
    target = work / stored
    if target.is_dir():
        assert result.returncode == 1 and b"exists" in result.stderr, result.stderr
        assert list(target.iterdir()) == [], "written inside a folder the name happens to equal"
    else:
        assert result.returncode == 0, result.stderr
        assert target.read_bytes() == marker
    assert sorted(p.name for p in work.iterdir()) == sorted({"docs", stored})


def test_name_double_dash_is_a_one_line_error(cli: CLI, tmp_path: Path) -> None:
    """A name "--" (valid, e.g. from another device) fed after `--`: argparse hands an empty
    list; that is a one-line error, not an internal error."""
    cli.init()
    cli("new", "N", "--json", input="body", check=True)
    named = cli("attach", "N", str(tmp_path / "f"), "--name=--")
    assert named.returncode == 1 and "internal error" not in named.stderr, named.stderr
    source = tmp_path / "--"
    source.write_bytes(b"x")
    cli("attach", "N", str(source), check=True)
    for action in ("get", "rm"):
        result = subprocess.run(
            [*vault_command(), "attachment", action, "--", "N", "--"],
            capture_output=True,
            text=True,
            env=cli.env(),
            cwd=tmp_path,
            start_new_session=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "internal error" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


# --- a blob file from the sync folder or a backup -------------------------------------------


def _store(tmp_path: Path):  # type: ignore[no-untyped-def]
    import os

    from vault.storage.blobs import BlobStore

    return BlobStore(tmp_path / "blobs", os.urandom(32))


@pytest.mark.parametrize("claimed", [5 << 20, 64 << 20, 1 << 30])
def test_receive_stops_at_the_first_bad_part(tmp_path: Path, claimed: int) -> None:
    """A peer (or a backup's author) names a huge size in a note and offers a file of exactly
    that sealed length (sparse, free to make): `receive` must refuse it at its first bad part,
    not copy all of it to this disk before checking."""
    import os

    from vault.errors import IntegrityError
    from vault.storage.blobs import CHUNK, MAGIC, VERSION, BlobRef, sealed_length

    store = _store(tmp_path)
    ref = BlobRef("ab" * 32, claimed, os.urandom(32))
    consumed = [0]

    def hostile() -> object:
        yield MAGIC + bytes([VERSION]) + os.urandom(24)
        left = sealed_length(claimed) - 33
        while left > 0:
            n = min(left, CHUNK)
            consumed[0] += n
            left -= n
            yield b"\0" * n

    with pytest.raises(IntegrityError):
        store.receive(hostile(), ref)  # type: ignore[arg-type]
    assert consumed[0] <= 3 * CHUNK, f"read {consumed[0]} bytes before refusing"
    assert not any((tmp_path / "blobs").iterdir()), "a temporary file was left behind"


# --- rotation records planted in the sync folder ----------------------------------------------


def test_forged_records_do_not_hide_the_real_rotation(tmp_path: Path, make_vault) -> None:  # type: ignore[no-untyped-def]
    """A peer's device folder of forged records (names copied from the real chain's ids, more
    than a run reads) costs only that folder: the real record, in the folder of a device whose
    files verified, is still read and followed."""
    import os

    from tests.conftest import PASSWORD
    from vault.notes.vault import Vault
    from vault.sealing.rotation import record_name
    from vault.sync import SyncEngine, clone, set_remote
    from vault.sync.rotation import MAX_RECORDS

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    a.create_note("Seed", "x\n")
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    b.lock()
    old_id = a.store.master_id
    a.rekey(PASSWORD, travel=True)
    SyncEngine(a).sync()
    forged = folder / "keys" / ("0" * 32)
    forged.mkdir(parents=True)
    for _ in range(MAX_RECORDS + 1):
        (forged / record_name(old_id, os.urandom(16).hex())).write_text('{"format": "x"}')
    b = Vault.unlock(tmp_path / "b", password=PASSWORD)
    try:
        SyncEngine(b).sync()
        assert b.store.master_id == a.store.master_id
    finally:
        b.lock()
        a.lock()


def test_forged_records_in_the_rotating_devices_own_folder_cost_nothing(
    tmp_path: Path,
    make_vault,  # type: ignore[no-untyped-def]
) -> None:
    """Forged records planted beside the real ones, in the rotating device's own folder, that
    sort before them and outnumber every budget (tagged with made-up tags on either side, and
    untagged), untagged junk in a folder that sorts first, and the real tagged names copied
    with junk inside into many other folders: no tagged name but the real ones is read, a
    fresh clone still reaches the folder's key, and the other device still follows."""
    import os

    from tests.conftest import PASSWORD
    from vault.notes.vault import Vault
    from vault.sealing.rotation import parse_name_tag, record_name
    from vault.sync import SyncEngine, clone, set_remote
    from vault.sync.rotation import MAX_RECORDS

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    a.create_note("Seed", "x\n")
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    b.lock()
    old_id = a.store.master_id
    a.rekey(PASSWORD, travel=True)
    SyncEngine(a).sync()
    own = folder / "keys" / a.store.device_id
    real = sorted(p.name for p in own.glob("*.rot"))
    assert len(real) == 2 and all(parse_name_tag(n) for n in real)  # one per key
    junk = '{"format": "x"}'
    for _ in range(3 * MAX_RECORDS):
        first = "0" * 8 + os.urandom(12).hex()  # sorts before the real new id
        for side in "on":
            (own / f"{old_id}-{first}-{side}{os.urandom(8).hex()}.rot").write_text(junk)
        (own / record_name(old_id, first)).write_text(junk)
    early = folder / "keys" / ("0" * 32)  # an unknown device that sorts first: untagged junk
    early.mkdir()
    for _ in range(2 * MAX_RECORDS):
        (early / record_name(old_id, os.urandom(16).hex())).write_text(junk)
    for i in range(1, 3 * MAX_RECORDS):  # the real names, junk inside, in other folders
        other = folder / "keys" / f"{i:032x}"
        other.mkdir()
        for name in real:
            (other / name).write_text(junk)
    c, _ = clone(folder, tmp_path / "c", password=PASSWORD)  # holds only the new key
    c.lock()
    b = Vault.unlock(tmp_path / "b", password=PASSWORD)  # holds only the old key
    try:
        report = SyncEngine(b).sync()
        assert b.store.master_id == a.store.master_id
        # untagged files are read within their budgets (64 for a verified device, 64 shared);
        # the report says so in a few lines, not one per file
        lines = [w for w in report.warnings if "key rotation record" in w]
        assert len(lines) <= 9
        assert lines[-1].endswith(f"{2 * MAX_RECORDS - 8} more key rotation records ignored")
    finally:
        b.lock()
        a.lock()


# --- nothing decrypted where it was not asked for ---------------------------------------------


def _scan(root: Path, markers: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{path}: {m!r}" for m in markers if m in data]
    return found


def test_attachment_names_and_bytes_leak_nowhere(cli: CLI, tmp_path: Path) -> None:
    """Attach, list, sync, back up, get, remove: the file's name and bytes appear in no file
    of the vault folder, the sync folder, the backup or the temp folder."""
    import os

    name_marker = "QZXNAMEMARKERQZX"
    body_marker = b"QZXBODYMARKERQZX"
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    cli.init()
    cli("new", "N", "--json", input="body", check=True, **env)
    source = tmp_path / "src" / f"{name_marker}.txt"
    source.parent.mkdir()
    source.write_bytes(body_marker * 5000 + os.urandom(100))
    cli("attach", "N", str(source), check=True, **env)
    cli("attachments", "N", check=True, **env)
    shared = tmp_path / "shared"
    cli("remote", "set", str(shared), check=True, **env)
    cli("sync", check=True, **env)
    backups = tmp_path / "backups"
    backups.mkdir()
    cli("backup", "create", str(backups / "b.vbk"), check=True, **env)
    out = tmp_path / "out"
    out.mkdir()
    cli("attachment", "get", "N", f"{name_marker}.txt", "-o", str(out), check=True, **env)
    cli("attachment", "rm", "N", f"{name_marker}.txt", check=True, **env)
    cli("sync", check=True, **env)
    markers = [name_marker.encode(), body_marker]
    leaks = []
    for root in (cli.vault_dir, shared, backups, scratch):
        leaks += _scan(root, markers)
    assert leaks == []


# --- a blob offered by a peer that is not what it claims --------------------------------------


def test_right_sized_garbage_does_not_stop_publishing(tmp_path: Path, make_vault) -> None:  # type: ignore[no-untyped-def]
    import io
    import os

    from tests.conftest import PASSWORD
    from vault.sync import SyncEngine, clone, set_remote

    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    note = a.create_note("Receipts", "see the scan")
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        source = tmp_path / "scan.pdf"
        data = os.urandom(5000)
        source.write_bytes(data)
        a.attach(note.id, source)
        SyncEngine(a).sync()
        [real] = list((folder / "blobs" / a.store.device_id).glob("*.blob"))
        size = real.stat().st_size
        real.unlink()  # a peer of the folder removes the real copy...
        fake = folder / "blobs" / ("0" * 32)
        fake.mkdir()
        (fake / real.name).write_bytes(os.urandom(size))  # ...and offers garbage of its size
        for _ in range(2):
            SyncEngine(a).sync()
            SyncEngine(b).sync()
        out = io.BytesIO()
        b.save_attachment(note.id, "scan.pdf", out)
        assert out.getvalue() == data
    finally:
        b.lock()


# --- names from a hostile payload, generated -----------------------------------------------

_PIECES = [
    *"ab./\\ \t\n\r\x00\x1b[]~-:",
    "\u202e",
    "\u2028",
    "\x85",
    "..",
    "[b]",
    "\ud800",
    "\udcff",
]
_hostile_text = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=20).map("".join)


_REFUSED = ("Cc", "Cf", "Zl", "Zp")


@given(name=_hostile_text)
def test_a_kept_name_is_one_plain_file_name(name: str) -> None:
    """Whatever a payload says, a name the list keeps is one plain file name (written as the
    default target of `get`), and the viewer's copy name stays inside its folder."""
    import base64

    from vault.notes.attachments import Entry
    from vault.tui.system_viewer import file_name

    entry = Entry.from_json(
        {
            "name": name,
            "type": "text/plain",
            "size": 1,
            "blob": "ab" * 32,
            "key": base64.b64encode(b"k" * 32).decode(),
        }
    )
    if entry is not None:
        kept = entry.name
        assert kept not in ("", ".", "..") and "/" not in kept and "\\" not in kept
        assert Path(kept).name == kept and not Path(kept).is_absolute()
        # no control, format or separator; no lone surrogate but a file name's undecodable
        # bytes (any other cannot be a file name: `get` would crash)
        assert all(unicodedata.category(c) not in _REFUSED for c in kept), repr(kept)
        kept.encode("utf-8", "surrogateescape")  # a file name `get` can write
    copy = file_name(name)
    assert copy and Path(copy).name == copy and copy not in (".", "..")
    assert all(unicodedata.category(c) not in _REFUSED for c in copy), repr(copy)


@pytest.mark.parametrize("name", ["a\ud800b", "x\udfff", "\udcff.png"])
def test_a_new_name_with_a_lone_surrogate_is_refused(name: str) -> None:
    from vault.errors import InvalidInputError
    from vault.notes.attachments import clean_attachment_name

    with pytest.raises(InvalidInputError):
        clean_attachment_name(name)
