"""One damaged key slot file costs only its own way in: the vault still opens with the others
(the recovery key), `vault passwd --recovery` mends it, and what cannot open says which file is
damaged in one line. (A truncated password slot refused the recovery key too: found by a
person's test.)"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, PASSWORD
from vault.errors import AuthError, RecoveryKeyError
from vault.notes.vault import Vault, inspect_vault


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(300))


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _giant(path: Path) -> None:
    with path.open("r+b") as f:
        f.truncate(1 << 40)  # sparse: a terabyte that is never read


def _dangling(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("nowhere.json"))


def _wrong_version(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"v": 1', b'"v": 99').replace(b'"v":1', b'"v":99'))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncated,
    "empty": _empty,
    "garbage": _garbage,
    "directory": _directory,
    "fifo": _fifo,
    "giant": _giant,
    "dangling": _dangling,
    "wrong version": _wrong_version,
}


def slot_file(vault_path: Path, slot_type: str) -> Path:
    import json

    for path in sorted((vault_path / "keys").glob("*.json")):
        if json.loads(path.read_bytes())["type"] == slot_type:
            return path
    raise AssertionError(f"no {slot_type} slot")


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_password_slot_leaves_the_recovery_key(make_vault, vault_path, damage) -> None:
    vault, recovery = make_vault()
    vault.create_note("Kept", "body")
    vault.lock()
    broken = slot_file(vault_path, "password")
    DAMAGE[damage](broken)
    assert inspect_vault(vault_path).vault_id  # the unlock screen still opens
    with pytest.raises(AuthError) as caught:
        Vault.unlock(vault_path, password=PASSWORD)
    message = str(caught.value)
    assert "\n" not in message
    assert broken.name in message and "damaged" in message
    assert "vault passwd --recovery" in message
    with Vault.unlock(vault_path, recovery_key=recovery) as v:
        assert [n.title for n in v.all_notes()] == ["Kept"]
        v.change_password("mended password")
    with Vault.unlock(vault_path, password="mended password") as v:
        assert [n.title for n in v.all_notes()] == ["Kept"]


@pytest.mark.parametrize("damage", ["truncated", "fifo"])
def test_a_damaged_recovery_slot_still_lets_the_password_in(make_vault, vault_path, damage) -> None:
    vault, recovery = make_vault()
    vault.lock()
    broken = slot_file(vault_path, "recovery")
    DAMAGE[damage](broken)
    with Vault.unlock(vault_path, password=PASSWORD):
        pass
    with pytest.raises(RecoveryKeyError, match=f"recovery key's slot is damaged.*{broken.name}"):
        Vault.unlock(vault_path, recovery_key=recovery)


def test_vault_passwd_recovery_mends_a_damaged_password_slot(
    make_vault, vault_path, tmp_path: Path
) -> None:
    """The command a person is told to run, as they run it."""
    vault, recovery = make_vault()
    vault.lock()
    broken = slot_file(vault_path, "password")
    _truncated(broken)
    cli = CLI(vault_path, tmp_path / "config.toml")
    failed = cli("ls")
    assert failed.returncode != 0
    assert "damaged" in failed.stderr and "vault passwd --recovery" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    mended = cli(
        "passwd",
        "--recovery",
        VAULT_PASSWORD=None,
        VAULT_RECOVERY_KEY=recovery,
        VAULT_NEW_PASSWORD="mended password",
    )
    assert mended.returncode == 0, mended.stderr
    # The damaged file could not be read, so it was not removed: it may still wrap the master
    # key under the old password once mended, and the person is told where it is.
    assert broken.exists()
    (warning,) = [line for line in mended.stderr.splitlines() if "warning" in line]
    assert f"keys/{broken.name}" in warning and "old password" in warning
    assert cli("ls", VAULT_PASSWORD="mended password").returncode == 0


def test_a_damaged_slot_here_deletes_no_published_copy(cli: CLI, tmp_path: Path) -> None:
    """The copy of a slot published in the sync folder may be the only good one left: while a
    slot here does not read, sync deletes none of this device's published slots, says why,
    and a clone with the recovery key still works from the folder."""
    recovery = cli.init()
    folder = tmp_path / "shared"
    cli("remote", "set", str(folder), check=True)
    cli("sync", check=True)
    published = sorted(p.name for p in folder.rglob("*.slot"))
    assert len(published) == 2
    slot_file(cli.vault_dir, "recovery").write_text("garbage")
    synced = cli("sync")
    assert synced.returncode == 0, synced.stderr
    assert "damaged" in synced.stdout + synced.stderr
    assert sorted(p.name for p in folder.rglob("*.slot")) == published
    clone = CLI(tmp_path / "clone", tmp_path / "clone.toml")
    cloned = clone(
        "clone",
        str(folder),
        "--recovery",
        VAULT_PASSWORD=None,
        VAULT_RECOVERY_KEY=recovery,
        VAULT_NEW_PASSWORD="quiet orchid lantern ninety",
    )
    assert cloned.returncode == 0, cloned.stderr


def _plant_decoy(vault_path: Path) -> Path:
    """A well-formed password slot of this vault's master key that opens nothing, named to
    sort first, asking for the cheapest Argon2 there is."""
    import json

    real = slot_file(vault_path, "password")
    doc = json.loads(real.read_bytes())
    doc["slot"] = "0000000000000000"
    doc["kdf"].update(m=8, t=1, p=1)
    decoy = real.with_name("0000000000000000.json")
    decoy.write_text(json.dumps(doc, indent=2))
    return decoy


def test_a_planted_slot_gives_a_password_change_nothing(make_vault, vault_path) -> None:
    """Its Argon2 parameters and id were taken for the new password (m=8 KiB: cheap to guess),
    and the real slot removed; now only the slot that opened counts, and every other password
    slot goes. `rekey` found the decoy first and refused the right password."""
    import json

    vault, _ = make_vault()
    vault.lock()
    decoy = _plant_decoy(vault_path)
    with Vault.unlock(vault_path, password=PASSWORD) as v:
        v.change_password("quiet orchid lantern ninety")
    slots = [json.loads(p.read_bytes()) for p in (vault_path / "keys").glob("*.json")]
    password_slots = [d for d in slots if d["type"] == "password"]
    assert len(password_slots) == 1 and not decoy.exists()
    assert password_slots[0]["kdf"]["m"] >= 1024  # the opened slot's (the test's), not 8
    _plant_decoy(vault_path)
    with Vault.unlock(vault_path, password="quiet orchid lantern ninety") as v:
        v.rekey("quiet orchid lantern ninety")
    with Vault.unlock(vault_path, password="quiet orchid lantern ninety"):
        pass


def test_a_backup_made_while_a_slot_is_damaged_says_it_lacks_it(
    make_vault, vault_path, tmp_path: Path
) -> None:
    """The backup can only carry the slots that read; it says which file it left out, so the
    person does not count on the recovery key opening it."""
    import json

    vault, recovery = make_vault()
    vault.create_note("Kept", "body")
    vault.lock()
    broken = slot_file(vault_path, "recovery")
    _truncated(broken)
    cli = CLI(vault_path, tmp_path / "config.toml")
    made = cli("backup", "create", str(tmp_path / "one.vaultbackup"))
    assert made.returncode == 0, made.stderr
    (warning,) = [line for line in made.stderr.splitlines() if line.startswith("warning")]
    assert f"keys/{broken.name}" in warning and "not in the backup" in warning
    as_json = cli("backup", "create", str(tmp_path / "two.vaultbackup"), "--json")
    assert json.loads(as_json.stdout)["slots_left_out"] == [broken.name]
    assert cli("backup", "verify", str(tmp_path / "one.vaultbackup")).returncode == 0
    refused = cli(
        "backup",
        "verify",
        str(tmp_path / "one.vaultbackup"),
        "--recovery",
        VAULT_PASSWORD=None,
        VAULT_RECOVERY_KEY=recovery,
    )
    assert refused.returncode != 0  # as it said: the recovery key's slot is not in it
    # With every slot whole, nothing is said.
    fine = CLI(tmp_path / "other", tmp_path / "config2.toml")
    fine.init()
    clean = fine("backup", "create", str(tmp_path / "three.vaultbackup"))
    assert clean.returncode == 0 and "warning" not in clean.stderr


def test_a_rekey_names_a_slot_file_it_could_not_read(cli: CLI) -> None:
    """A slot damaged in its format only may still wrap the old master key: rekey removes the
    old key's slots it can read, and names the one it could not."""
    cli.init()
    cli("new", "Kept", input="body\n", check=True)
    odd = cli.vault_dir / "keys" / "zz-old.json"
    odd.write_text('{"v": 99}')
    done = cli("rekey", "--offline")
    assert done.returncode == 0, done.stderr
    (warning,) = [line for line in done.stderr.splitlines() if line.startswith("warning")]
    assert "keys/zz-old.json" in warning and "old key" in warning
    assert odd.exists()
    assert "Kept" in cli("ls", check=True).stdout


def test_an_automatic_backup_without_a_slot_keeps_the_older_ones_and_says_so(
    make_vault, vault_path, tmp_path: Path
) -> None:
    """Rotation would delete the older automatic backups, which still carry the slot, once the
    new one reads back: after a few days none would open with the recovery key. It keeps
    them, and the command that made it says which slot it lacks (found by a review)."""
    from datetime import UTC, datetime, timedelta

    from tests.test_backup import config_with
    from vault.interchange.backup import auto_backup, list_backups

    vault, _ = make_vault()
    vault.create_note("Kept", "body")
    config = config_with(tmp_path, interval_hours=1, keep_daily=1, keep_weekly=0)
    now = datetime.now(UTC)
    first = auto_backup(vault, config, reason="quit", now=now - timedelta(days=3))
    assert first is not None
    broken = slot_file(vault_path, "recovery")
    _truncated(broken)
    vault.create_note("Later", "body")
    second = auto_backup(vault, config, reason="quit", now=now - timedelta(days=1))
    assert second is not None and vault.damaged_slot_files == [broken.name]
    folder = tmp_path / "backups"
    assert {b.path for b in list_backups(folder, vault.vault_id)} == {first, second}
    vault.create_note("Since", "body")  # (a change: the next scheduled backup is due)
    vault.lock()

    # The command line's scheduled backup says it.
    cli = CLI(vault_path, tmp_path / "config.toml")
    cli("config", "set", "backup.dir", str(folder), check=True)
    cli("config", "set", "backup.interval_hours", "0.0001", check=True)
    made = cli("new", "Another", "--no-edit")
    assert made.returncode == 0, made.stderr
    assert "scheduled backup" in made.stderr, made.stderr
    (warning,) = [line for line in made.stderr.splitlines() if line.startswith("warning")]
    assert f"keys/{broken.name}" in warning and "older backups were kept" in warning
