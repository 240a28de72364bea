"""The tamper table from crypto.md, on real vault folders: every case is a clear error naming
what is wrong, and every other note still opens."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from vault.errors import (
    AuthError,
    CorruptItemError,
    KeyfileError,
    KeyfileRequiredError,
    NotAVaultError,
    RecoveryKeyError,
    WrongPasswordError,
)
from vault.notes.vault import Vault
from vault.sealing import crypto


def _db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / "store.sqlite", isolation_level=None)


def _envelope(path: Path, item_id: str) -> dict:
    with _db(path) as db:
        (text,) = db.execute("SELECT envelope FROM items WHERE item_id = ?", (item_id,)).fetchone()
    return json.loads(text)


def _set_envelope(path: Path, item_id: str, env: dict | str) -> None:
    text = env if isinstance(env, str) else json.dumps(env)
    db = _db(path)
    db.execute("UPDATE items SET envelope = ? WHERE item_id = ?", (text, item_id))
    db.execute(
        "UPDATE ops SET envelope = ? WHERE op_id = (SELECT op_id FROM items WHERE item_id = ?)",
        (text, item_id),
    )
    db.close()


def _flip(b64: str, index: int) -> str:
    raw = bytearray(crypto.b64d(b64))
    raw[index] ^= 0x80
    return crypto.b64e(bytes(raw))


@pytest.fixture
def three_notes(make_vault, vault_path):
    vault, recovery = make_vault()
    notes = [vault.create_note(f"Note {i}", f"body {i}") for i in range(3)]
    vault.lock()
    return vault_path, [n.id for n in notes], recovery


CASES = {
    "flipped byte": lambda p, ids: _set_envelope(
        p, ids[0], {**_envelope(p, ids[0]), "cipher": _flip(_envelope(p, ids[0])["cipher"], 40)}
    ),
    "swapped envelopes between two ids": lambda p, ids: _set_envelope(
        p, ids[0], {**_envelope(p, ids[1]), "id": ids[0]}
    ),
    "changed alg": lambda p, ids: _set_envelope(p, ids[0], {**_envelope(p, ids[0]), "alg": "none"}),
    "changed v": lambda p, ids: _set_envelope(p, ids[0], {**_envelope(p, ids[0]), "v": 7}),
    "truncated cipher": lambda p, ids: _set_envelope(
        p,
        ids[0],
        {**_envelope(p, ids[0]), "cipher": _envelope(p, ids[0])["cipher"][:-24]},
    ),
    "truncated envelope": lambda p, ids: _set_envelope(
        p, ids[0], json.dumps(_envelope(p, ids[0]))[:90]
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampered_item_is_named_and_the_rest_open(three_notes, case: str) -> None:
    path, ids, _ = three_notes
    CASES[case](path, ids)
    with Vault.unlock(path, password=PASSWORD) as vault:
        titles = sorted(n.title for n in vault.all_notes())
        assert titles == ["Note 1", "Note 2"]
        assert list(vault.corrupt) == [ids[0]]
        if case != "changed v":  # a larger v says "written by a newer version" instead
            assert ids[0][:8] in vault.corrupt[ids[0]]
        with pytest.raises(CorruptItemError) as info:
            vault.note(ids[0])
        assert "\n" not in str(info.value)
        assert not vault.check().ok


def test_envelope_moved_from_another_vault(make_vault, tmp_path, vault_path) -> None:
    a, _ = make_vault(tmp_path / "a")
    b, _ = make_vault(vault_path)
    foreign = a.create_note("Foreign", "from vault a")
    own = b.create_note("Own", "mine")
    a_path = tmp_path / "a"
    a.lock()
    b.lock()
    env = _envelope(a_path, foreign.id)
    with _db(a_path) as db:
        row = db.execute(
            "SELECT op_id, parents, device FROM ops WHERE op_id = ?", (foreign.version,)
        ).fetchone()
    db = _db(vault_path)
    db.execute(
        "INSERT INTO ops(op_id, item_id, kind, parents, deleted, envelope, device) "
        "VALUES (?, ?, 'note', ?, 0, ?, ?)",
        (row[0], foreign.id, row[1], json.dumps(env), row[2]),
    )
    db.execute(
        "INSERT INTO items(item_id, kind, op_id, envelope) VALUES (?, 'note', ?, ?)",
        (foreign.id, row[0], json.dumps(env)),
    )
    db.execute("INSERT INTO heads(item_id, op_id) VALUES (?, ?)", (foreign.id, row[0]))
    db.close()
    with Vault.unlock(vault_path, password=PASSWORD) as vault:
        assert [n.id for n in vault.all_notes()] == [own.id]
        assert foreign.id in vault.corrupt


def test_wrong_password(three_notes) -> None:
    path, _, _ = three_notes
    with pytest.raises(WrongPasswordError, match="wrong password"):
        Vault.unlock(path, password="not it")


def test_wrong_and_missing_keyfile(make_vault, vault_path, tmp_path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_bytes(b"k" * 64)
    other = tmp_path / "other"
    other.write_bytes(b"o" * 64)
    vault, _ = make_vault(keyfile=keyfile)
    vault.lock()
    with pytest.raises(KeyfileRequiredError, match="--keyfile"):
        Vault.unlock(vault_path, password=PASSWORD)
    with pytest.raises(WrongPasswordError, match="password or keyfile"):
        Vault.unlock(vault_path, password=PASSWORD, keyfile=other)
    with pytest.raises(KeyfileError, match="cannot read"):
        Vault.unlock(vault_path, password=PASSWORD, keyfile=tmp_path / "missing")
    Vault.unlock(vault_path, password=PASSWORD, keyfile=keyfile).lock()


def test_mistyped_and_foreign_recovery_keys(three_notes, make_vault, tmp_path) -> None:
    path, _, recovery = three_notes
    groups = recovery.split("-")
    groups[3] = groups[3][:2] + ("A" if groups[3][2] != "A" else "B") + groups[3][3:]
    with pytest.raises(RecoveryKeyError, match=r"group 4 of 14|checksum"):
        Vault.unlock(path, recovery_key="-".join(groups))
    _, other_recovery = make_vault(tmp_path / "other")
    with pytest.raises(RecoveryKeyError, match="does not open this vault"):
        Vault.unlock(path, recovery_key=other_recovery)
    Vault.unlock(path, recovery_key=recovery.lower()).lock()


def test_tampered_slot_is_reported_not_mistaken_for_a_wrong_password(three_notes) -> None:
    path, _, _ = three_notes
    slot_path = next(
        p for p in (path / "keys").glob("*.json") if json.loads(p.read_text())["type"] == "password"
    )
    doc = json.loads(slot_path.read_text())
    doc["cipher"] = _flip(doc["cipher"], 5)
    slot_path.write_text(json.dumps(doc))
    with pytest.raises(Exception) as info:
        Vault.unlock(path, password=PASSWORD)
    assert "tampered" in str(info.value) or "failed to verify" in str(info.value)


def test_slot_moved_to_another_vault_does_not_open(make_vault, tmp_path) -> None:
    a, _ = make_vault(tmp_path / "a")
    b, _ = make_vault(tmp_path / "b")
    a.lock()
    b.lock()
    for p in (tmp_path / "b" / "keys").glob("*.json"):
        p.unlink()
    for p in (tmp_path / "a" / "keys").glob("*.json"):
        (tmp_path / "b" / "keys" / p.name).write_bytes(p.read_bytes())
    # b's store names b's master key: a's slots are not even considered
    with pytest.raises(Exception, match=r"no key slots|wrong password"):
        Vault.unlock(tmp_path / "b", password=PASSWORD)


def test_hostile_kdf_parameters_are_refused(three_notes) -> None:
    """A slot asking for a giant derivation is never derived: it is skipped as damaged, named
    in one line, and the other slots (the recovery key) still open the vault."""
    path, _, recovery = three_notes
    slot_path = next(
        p for p in (path / "keys").glob("*.json") if json.loads(p.read_text())["type"] == "password"
    )
    doc = json.loads(slot_path.read_text())
    doc["kdf"]["m"] = 64 * 1024 * 1024  # 64 GiB
    slot_path.write_text(json.dumps(doc))
    with pytest.raises(AuthError, match=f"{slot_path.name}: .*damaged or hostile"):
        Vault.unlock(path, password=PASSWORD)
    with Vault.unlock(path, recovery_key=recovery) as vault:
        assert len(vault.all_notes()) == 3


@pytest.mark.parametrize(
    "damage",
    ["no header", "garbage header", "newer format", "no store", "garbage store", "empty folder"],
)
def test_not_a_vault(three_notes, damage: str) -> None:
    path, _, _ = three_notes
    if damage == "no header":
        (path / "vault.json").unlink()
    elif damage == "garbage header":
        (path / "vault.json").write_text("{not json")
    elif damage == "newer format":
        doc = json.loads((path / "vault.json").read_text())
        (path / "vault.json").write_text(json.dumps({**doc, "v": 9}))
    elif damage == "no store":
        (path / "store.sqlite").unlink()
    elif damage == "garbage store":
        (path / "store.sqlite").write_bytes(b"this is not sqlite" * 100)
        for suffix in ("-wal", "-shm"):
            (path / f"store.sqlite{suffix}").unlink(missing_ok=True)
    elif damage == "empty folder":
        for p in path.rglob("*"):
            if p.is_file():
                p.unlink()
    with pytest.raises(Exception) as info:
        Vault.unlock(path, password=PASSWORD)
    from vault.errors import VaultError

    assert isinstance(info.value, VaultError)
    message = str(info.value)
    assert "\n" not in message
    if damage == "newer format":
        assert "upgrade" in message
    else:
        assert isinstance(info.value, NotAVaultError)
