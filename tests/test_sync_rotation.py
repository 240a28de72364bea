"""A master key rotation that travels through the sync folder (docs/SYNC.md, "Key rotation"):
real vaults, a real folder on disk, the domain API, and the real `vault` command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault.errors import RemoteError
from vault.notes.vault import Vault
from vault.sealing import crypto, keys, rotation
from vault.sync import SyncEngine, clone, list_conflicts, set_remote

MakeVault = Callable[..., tuple[Vault, str]]


def _notes(v: Vault) -> dict[str, tuple[str, str]]:
    v.refresh()
    return {n.id: (n.title, n.body) for n in v.all_notes()}


def _sync(v: Vault):
    return SyncEngine(v).sync()


def _unlock(path: Path, password: str = PASSWORD) -> Vault:
    return Vault.unlock(path, password=password)


@pytest.fixture
def pair(tmp_path: Path, make_vault: MakeVault):
    folder = tmp_path / "shared"
    a, _recovery = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    a.create_note("Seed", "one\ntwo\nthree\n")
    _sync(a)
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    opened = [a, b]
    yield folder, a, b, opened
    for v in opened:
        v.lock()


def test_a_rotation_travels_and_keeps_every_edit(pair, tmp_path: Path) -> None:
    folder, a, b, opened = pair
    # b's edit reaches the folder before a rotates; another of b's stays unsynced
    b.create_note("Synced by b before", "x\n")
    _sync(b)
    late = b.create_note("Unsynced on b", "y\n")
    old_id = a.store.master_id
    _sync(a)  # pulls b's synced edit first
    new_recovery = a.rekey(PASSWORD, travel=True)
    report = _sync(a)
    assert a.store.master_id != old_id
    assert any(folder.glob("keys/*/*.rot"))
    assert json.loads((folder / "vault-sync.json").read_text())["v"] == 3
    assert report.pending == ()
    # b follows at its next sync, with the key in memory: no password asked
    report = _sync(b)
    assert b.store.master_id == a.store.master_id
    assert any("followed the master key rotation" in n.lower() for n in report.notices)
    assert old_id in b.store.previous_master_ids()
    _sync(a)
    assert _notes(a) == _notes(b)
    assert late.id in _notes(a)
    # both edit afterwards
    a.create_note("After, on a", "a\n")
    b.create_note("After, on b", "b\n")
    for _ in range(2):
        _sync(a)
        _sync(b)
    assert _notes(a) == _notes(b) and len(_notes(a)) == 5
    # b's own password opens b after the rotation; the old recovery key no longer does,
    # the new one does (b took its slot from the record)
    b.lock()
    opened.remove(b)
    b2 = _unlock(tmp_path / "b")
    opened.append(b2)
    assert b2.store.master_id == a.store.master_id
    b2.lock()
    opened.remove(b2)
    b3 = Vault.unlock(tmp_path / "b", recovery_key=new_recovery)
    opened.append(b3)
    assert _notes(b3) == _notes(a)
    # a fresh clone made now holds everything, reading the old key's files through the record
    c, _ = clone(folder, tmp_path / "c", password=PASSWORD)
    opened.append(c)
    assert c.store.master_id == a.store.master_id
    assert _notes(c) == _notes(a)
    assert [x.item_id for x in list_conflicts(c)] == []


def test_edits_made_under_the_old_key_after_the_rotation_are_ingested(pair) -> None:
    _folder, a, b, _opened = pair
    a.rekey(PASSWORD, travel=True)
    _sync(a)
    # b writes under the old key (it has not synced yet) and the file reaches the folder
    # through a sync run of a vault that cannot follow (opened without the password)
    b_late = b.create_note("Written under the old key", "z\n")
    stale = Vault(b.store, b.master_key)  # no KEK kept: it cannot re-wrap its password slot
    report = SyncEngine(stale).sync()
    assert any("another device rotated the master key" in w for w in report.warnings)
    assert stale.store.master_id != a.store.master_id
    _sync(a)
    assert b_late.id in _notes(a)
    _sync(b)  # opened with the password: follows now
    assert b.store.master_id == a.store.master_id
    _sync(a)
    assert _notes(a) == _notes(b)


def test_a_device_offline_across_two_rotations_follows_both(pair, tmp_path: Path) -> None:
    folder, a, b, _opened = pair
    away = b.create_note("Written while away", "w\n")
    a.rekey(PASSWORD, travel=True)
    a.create_note("Between the rotations", "m\n")
    _sync(a)
    a.rekey(PASSWORD, travel=True)
    a.create_note("After both", "n\n")
    _sync(a)
    assert len(list(folder.glob("keys/*/*.rot"))) == 4  # each record under two names
    _sync(b)
    assert b.store.master_id == a.store.master_id
    assert len(b.store.previous_master_ids()) == 1  # straight to the newest key
    _sync(a)
    assert _notes(a) == _notes(b) and away.id in _notes(a)


def test_two_rotations_at_once_end_on_one_key(pair) -> None:
    _folder, a, b, _opened = pair
    a.rekey(PASSWORD, travel=True)
    b.rekey(PASSWORD, travel=True)
    a.create_note("a after", "1\n")
    b.create_note("b after", "2\n")
    for _ in range(3):
        _sync(a)
        _sync(b)
    assert a.store.master_id == b.store.master_id
    assert _notes(a) == _notes(b) and len(_notes(a)) == 3


def test_a_tampered_or_foreign_record_is_refused_with_one_line(
    pair, tmp_path: Path, make_vault: MakeVault
) -> None:
    folder, a, b, opened = pair
    a.rekey(PASSWORD, travel=True)
    _sync(a)
    (record,) = folder.glob("keys/*/*-o*.rot")  # the copy b (holding the old key) reads
    for other_copy in folder.glob("keys/*/*-n*.rot"):
        other_copy.unlink()
    # tampered in place: one byte of the forward box changed; b must not follow it
    doc = json.loads(record.read_text())
    box = bytearray(crypto.b64d(doc["forward"]))
    box[5] ^= 1
    doc["forward"] = crypto.b64e(bytes(box))
    record.write_text(json.dumps(doc, indent=2) + "\n")
    a_store_records = a.store.meta(rotation.ROTATIONS)  # a keeps its good copy in its store
    report = SyncEngine(b).sync()
    lines = [w for w in report.warnings if "rotation record" in w]
    assert lines and all("\n" not in w for w in lines)
    assert any("does not verify" in w for w in lines)
    assert b.store.master_id != a.store.master_id
    # foreign: a record of another vault
    other, _ = make_vault(tmp_path / "other")
    opened.append(other)
    foreign = rotation.make_record(
        other.vault_id,
        other.store.device_id,
        other.master_key,
        crypto.random_bytes(32),
        keys.Slot.create(
            other.vault_id,
            keys.RECOVERY,
            crypto.random_bytes(32),
            keys.Secret(recovery=crypto.random_bytes(32)),
        ),
    )
    parsed = rotation.parse_record(foreign, "x")
    record.unlink()
    stranger = folder / "keys" / b.store.device_id
    stranger.mkdir(parents=True, exist_ok=True)
    (stranger / parsed.name).write_bytes(foreign)
    report = SyncEngine(b).sync()
    assert any("another vault" in w for w in report.warnings)
    assert b.store.master_id != a.store.master_id
    # the good record comes back (a publishes what it keeps): b follows
    (stranger / parsed.name).unlink()
    assert a_store_records
    _sync(a)
    _sync(b)
    assert b.store.master_id == a.store.master_id


def test_rekey_to_a_new_folder_does_not_travel(pair) -> None:
    folder, a, _b, _opened = pair
    a.rekey(PASSWORD)
    with pytest.raises(RemoteError, match="this device rotated it"):
        _sync(a)
    assert not list(folder.glob("keys/*/*.rot"))


def test_cli_rekey_travels_and_says_what_the_others_do(cli: CLI, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    b_env = {"VAULT_DIR": str(tmp_path / "b")}
    cli.init()
    cli("new", "Plan", input="start\n", check=True)
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    cli("new", "From b, synced", input="b\n", check=True, **b_env)
    cli("sync", check=True, **b_env)
    cli("new", "From b, not synced", input="b\n", check=True, **b_env)
    rekeyed = cli("rekey", check=True)
    assert "follow at their next sync" in rekeyed.stderr
    assert "--new-folder" in rekeyed.stderr
    assert "Published the new key" in rekeyed.stderr
    followed = cli("sync", check=True, **b_env)
    assert "Followed the master key rotation" in followed.stdout
    cli("new", "From a, after", input="a\n", check=True)
    cli("new", "From b, after", input="b\n", check=True, **b_env)
    for _ in range(2):
        cli("sync", check=True)
        cli("sync", check=True, **b_env)
    a_titles = sorted(n["title"] for n in json.loads(cli("ls", "--json", check=True).stdout))
    b_titles = sorted(
        n["title"] for n in json.loads(cli("ls", "--json", check=True, **b_env).stdout)
    )
    assert (
        a_titles
        == b_titles
        == sorted(
            ["Plan", "From b, synced", "From b, not synced", "From a, after", "From b, after"]
        )
    )


def test_an_unlocked_session_reads_on_and_the_password_follows(cli: CLI, tmp_path: Path) -> None:
    """b is unlocked by `vault unlock` (its session holds only the master key): its syncs read
    a's new changes and say what to do; once b syncs with its password, it follows."""
    shared = tmp_path / "shared"
    b_env = {"VAULT_DIR": str(tmp_path / "b")}
    cli.init()
    cli("remote", "set", str(shared), check=True)
    cli("sync", check=True)
    cli("clone", str(shared), "--vault", str(tmp_path / "b"), check=True)
    cli("unlock", check=True, **b_env)
    cli("rekey", check=True)
    cli("new", "From a, under the new key", input="a\n", check=True)
    cli("sync", check=True)
    no_password = {**b_env, "VAULT_PASSWORD": None}
    waiting = cli("sync", check=True, **no_password)
    assert "another device rotated the master key" in waiting.stdout
    assert "From a, under the new key" in cli("ls", check=True, **no_password).stdout
    cli("new", "From b, in the session", input="b\n", check=True, **no_password)
    cli("sync", check=True, **no_password)
    cli("lock", check=True, **b_env)
    followed = cli("sync", check=True, **b_env)
    assert "Followed the master key rotation" in followed.stdout
    cli("sync", check=True)
    titles = json.loads(cli("ls", "--json", check=True).stdout)
    assert {n["title"] for n in titles} == {"From a, under the new key", "From b, in the session"}


def test_a_password_changed_elsewhere_is_not_brought_back_by_following(
    pair, tmp_path: Path
) -> None:
    """b is open in one program (its key-encryption key is the old password's) while another
    changes b's password: following then would wrap the new key with the old password, so
    it waits until b is opened with the new one."""
    _folder, a, b, opened = pair
    other = _unlock(tmp_path / "b")
    opened.append(other)
    other.change_password("a new password")
    a.rekey(PASSWORD, travel=True)
    _sync(a)
    report = _sync(b)
    assert b.store.master_id != a.store.master_id
    assert any("another device rotated the master key" in w for w in report.warnings)
    report = _sync(other)
    assert other.store.master_id == a.store.master_id
    other.lock()
    opened.remove(other)
    again = _unlock(tmp_path / "b", "a new password")
    opened.append(again)
    assert again.store.master_id == a.store.master_id


def test_hostile_things_named_as_records_cost_nothing(pair) -> None:
    """A FIFO, a symlink to a big file, a huge file and garbage, each named as a rotation
    record: nothing blocks or is read beyond the limit, garbage is one line, the sync goes on."""
    import os

    folder, a, b, _opened = pair
    place = folder / "keys" / ("e" * 32)
    place.mkdir(parents=True)
    names = [f"{c * 32}-{d * 32}.rot" for c, d in ("ab", "cd", "ef", "01")]
    os.mkfifo(place / names[0])
    (place / names[1]).symlink_to("/dev/zero")
    (place / names[2]).write_bytes(b"{" * (1 << 20))
    (place / names[3]).write_bytes(b'{"format": "vault-rotation", "v": 1}')
    b.create_note("Still syncs", "s\n")
    report = _sync(b)
    lines = [w for w in report.warnings if "rotation record" in w]
    assert len(lines) == 1 and "damaged key rotation record" in lines[0], report.warnings
    _sync(a)
    assert _notes(a) == _notes(b)


def test_a_tag_made_before_a_rotation_stays_one_tag(pair) -> None:
    """A tag's id is a keyed hash of its name under the master key: after a rotation the same
    name would hash to another id. Tagging, renaming and deleting go by name, so the tag made
    before stays the one tag, on both devices."""
    _folder, a, b, _opened = pair
    a.create_note("Before", "x\n", tags=["Garden"])
    _sync(a)
    _sync(b)
    a.rekey(PASSWORD, travel=True)
    _sync(a)
    _sync(b)
    for v in (a, b):
        v.create_note(f"After on {v.store.device_id[:4]}", "y\n", tags=["garden"])
    for _ in range(2):
        _sync(a)
        _sync(b)
    for v in (a, b):
        v.refresh()
        assert [t.name for t in v._tags_by_name().values()] == ["Garden"]
        assert len(v._tag_map()) == 1
        assert [(t.name, t.notes) for t in v.tags()] == [("Garden", 3)]
        assert {n.tags for n in v.all_notes() if n.title != "Seed"} == {("Garden",)}
    a.delete_tag("garden")
    _sync(a)
    _sync(b)
    for v in (a, b):
        v.refresh()
        assert v._tag_map() == {} and v.tags() == []


def test_the_newest_record_is_kept_when_the_store_holds_its_most() -> None:
    """The store keeps at most MAX_KEPT records: the oldest go, never the one just made
    (they were ordered by name, i.e. by the old key's random id, so a new record could be
    dropped the moment it was added and then never published)."""
    vault_id, device = "0f" * 16, "a1" * 16
    value = None
    mk = crypto.random_bytes(crypto.KEY_BYTES)
    names = []
    for _ in range(rotation.MAX_KEPT + 3):
        new = crypto.random_bytes(crypto.KEY_BYTES)
        recovery, _ = keys.new_recovery_key()
        slot = keys.Slot.create(vault_id, keys.RECOVERY, new, keys.Secret(recovery=recovery))
        value = rotation.add_record(value, rotation.make_record(vault_id, device, mk, new, slot))
        names.append(rotation.record_name(keys.mk_id(mk), keys.mk_id(new)))
        assert names[-1] in rotation.kept_records(value)
        mk = new
    assert list(rotation.kept_records(value)) == names[-rotation.MAX_KEPT :]


def test_a_damaged_copy_of_a_published_record_is_reported(pair) -> None:
    """One of the rotating device's two copies replaced by junk of the same size, the other by
    a FIFO: its next sync says so (it wrote those names, and they no longer hold the record),
    nothing blocks, and the other device, which reads only those names, says it read junk and
    waits without harm."""
    import os

    folder, a, b, _opened = pair
    a.rekey(PASSWORD, travel=True)
    _sync(a)
    own = folder / "keys" / a.store.device_id
    (under_old,) = own.glob("*-o*.rot")  # the copy b, holding only the old key, reads
    (under_new,) = own.glob("*-n*.rot")
    under_old.write_bytes(b"x" * under_old.stat().st_size)
    under_new.unlink()
    os.mkfifo(under_new)
    lines = [w for w in _sync(a).warnings if "rotation record" in w]
    assert len(lines) == 2 and all("not published" in w for w in lines), lines
    report = _sync(b)
    assert b.store.master_id != a.store.master_id  # nothing it could read yet
    assert any(".rot is not valid JSON" in w for w in report.warnings), report.warnings
