"""docs/FORMAT.md is exact: a reader written from it alone opens a vault made by `vault`."""

from __future__ import annotations

import os

from tests import format_reader as spec
from tests.conftest import PASSWORD


def test_spec_reader_opens_a_cli_made_vault_with_password_and_recovery(cli, vault_path) -> None:
    recovery = cli.init()
    cli(
        "new",
        "Plans ünïcode",
        "--notebook",
        "Work/Projects",
        "--tag",
        "alpha",
        input="body one\n",
        check=True,
    )
    cli("new", "Second", "--tag", "beta", "--tag", "alpha", input="# Two\n\ntext", check=True)
    cli("rm", "Second", check=True)  # trashed, still an item
    cli("new", "Gone", input="purged body", check=True)
    cli("rm", "Gone", "--purge", "--yes", check=True)

    for kwargs in ({"password": PASSWORD}, {"recovery_key": recovery}):
        items = spec.read_vault(vault_path, **kwargs)
        notes = {n["title"]: n for n in items["note"]}
        assert set(notes) == {"Plans ünïcode", "Second"}
        assert notes["Plans ünïcode"]["body"] == "body one\n"
        assert notes["Second"]["trashed"] is not None
        assert sorted(notes["Second"]["tags"]) == ["alpha", "beta"]
        notebooks = {nb["id"]: nb for nb in items["notebook"]}
        projects = notebooks[notes["Plans ünïcode"]["notebook"]]
        assert projects["name"] == "Projects"
        assert notebooks[projects["parent"]]["name"] == "Work"
        assert {t["name"] for t in items["tag"]} == {"alpha", "beta"}


def test_spec_reader_opens_attachments(cli, vault_path, tmp_path) -> None:
    """FORMAT.md "Attachments" and "Blobs": the entries in the note, the files in blobs/."""
    cli.init()
    cli("new", "Receipts", input="see ![scan](attachment:scan%201.pdf)", check=True)
    mib = 1024 * 1024
    # "big.bin": three segments of version 3 (4 + 4 + 1 parts), the last part short
    sizes = {
        "scan 1.pdf": mib,
        "empty": 0,
        "one": 1,
        "two.bin": 2 * mib + 3,
        "big.bin": 8 * mib + 5,
    }
    for name, size in sizes.items():
        src = tmp_path / name
        src.write_bytes(os.urandom(size))
        cli("attach", "Receipts", str(src), check=True)
    mk = spec.master_key(vault_path, password=PASSWORD)[2]
    (note,) = spec.read_vault(vault_path, password=PASSWORD)["note"]
    entries = note["attachments"]
    assert [e["name"] for e in entries] == list(sizes)
    assert entries[0]["type"] == "application/pdf"
    for entry in entries:
        data = (vault_path / "blobs" / f"{entry['blob']}.blob").read_bytes()
        assert data[8] == 3  # what vault writes now; the vectors keep versions 1 and 2
        assert spec.read_blob(data, mk, entry) == (tmp_path / entry["name"]).read_bytes()


def test_spec_reader_opens_a_keyfile_vault(cli, vault_path, tmp_path) -> None:
    keyfile = tmp_path / "my.key"
    cli("--keyfile", str(keyfile), "init", "--insecure-test-kdf", check=True)
    assert keyfile.stat().st_size == 64
    cli("--keyfile", str(keyfile), "new", "Keyed", input="secret body", check=True)
    items = spec.read_vault(vault_path, password=PASSWORD, keyfile=keyfile.read_bytes())
    assert [n["body"] for n in items["note"]] == ["secret body"]


def test_spec_reader_opens_the_snapshot(cli, vault_path) -> None:
    """A vault big enough for a snapshot: the spec reader opens it, and its entries are the
    store's current items, version for version."""
    from vault.notes.vault import SNAPSHOT_MIN_ITEMS, Vault
    from vault.sealing.crypto import TEST_KDF

    vault, _ = Vault.create(vault_path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault.store.transaction():
        for n in range(SNAPSHOT_MIN_ITEMS + 5):
            vault.create_note(f"Note {n}", f"body ünï {n}", tags=["t"])
    versions = {i.id: i.version for i in vault._items.values()}
    vault.lock()

    entries = spec.read_snapshot(vault_path, password=PASSWORD)
    by_id = {e[0]: e for e in entries}
    assert {i: e[2].partition(":")[0] for i, e in by_id.items()} == versions
    items = spec.read_vault(vault_path, password=PASSWORD)
    for kind, payloads in items.items():
        for payload in payloads:
            item_id = payload.pop("id")
            assert by_id[item_id][1] == kind
            assert by_id[item_id][4] == payload
    # The first part alone (what `vault ls` reads): the same entries, without the bodies.
    listing = spec.read_snapshot(vault_path, password=PASSWORD, bodies=False)
    assert [e[0] for e in listing] == [e[0] for e in entries]
    for entry in listing:
        whole = dict(by_id[entry[0]][4])
        whole.pop("body", None)
        assert entry[:4] == by_id[entry[0]][:4] and entry[4] == whole


def test_spec_reader_opens_the_snapshots_head(vault_path) -> None:
    """The head (version 3), read from FORMAT.md alone: every item that is not a note, the
    first `k` notes outside the trash in each order once each, the trash's ids, the store's
    highest op seq, and the same entries again in the first part."""
    import sqlite3

    from vault.notes.vault import Vault
    from vault.sealing.crypto import TEST_KDF

    vault, _ = Vault.create(vault_path, PASSWORD, kdf=TEST_KDF, allow_weak_kdf=True)
    with vault.batch():
        nb = vault.create_notebook("Book")
        for n in range(460):
            note = vault.create_note(f"Note {n % 97} ünï {n}", "body", notebook=nb.id, tags=["t"])
            if n % 40 == 3:
                vault.trash_note(note)
            elif n % 61 == 5:
                vault.update_note(note, pinned=True)
    vault.lock()
    head = spec.read_snapshot_head(vault_path, password=PASSWORD)
    listing = spec.read_snapshot(vault_path, password=PASSWORD, bodies=False)
    with sqlite3.connect(vault_path / "store.sqlite") as db:
        assert head["hw"] == db.execute("SELECT max(seq) FROM ops").fetchone()[0]
    assert head["k"] == 200 and head["complete"] is False and head["absent"] == []
    assert sorted(head["trash"]) == sorted(
        e[0] for e in listing if e[1] == "note" and e[4]["trashed"] is not None
    )
    others = [e for e in listing if e[1] != "note"]
    assert {e[1] for e in others} == {"notebook", "tag"}
    chosen: dict[str, list] = {}
    for order in ("modified", "created", "title"):
        for entry in spec.first_notes(listing, order, head["k"]):
            chosen[entry[0]] = entry
    head_ids = [e[0] for e in head["entries"]]
    assert len(head_ids) == len(set(head_ids))
    assert sorted(head_ids) == sorted([e[0] for e in others] + list(chosen))
    by_id = {e[0]: e for e in listing}
    assert all(e == by_id[e[0]] for e in head["entries"])  # the same entries, in the first part


def test_a_reader_must_apply_the_wal(tmp_path) -> None:
    """After a crash (or while a program has the vault open) committed notes live only in
    store.sqlite-wal: store.sqlite alone may not even hold the tables. Opened with SQLite in
    place, or rebuilt by applying the WAL as FORMAT.md describes, the note is there."""
    import shutil
    import sqlite3
    import subprocess
    import sys

    folder = tmp_path / "v"
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom vault.sealing.crypto import TEST_KDF\n"
        "from vault.notes.vault import Vault\n"
        "v, _ = Vault.create(Path(sys.argv[1]), sys.argv[2], kdf=TEST_KDF, allow_weak_kdf=True)\n"
        "v.create_note('Only in the WAL', 'wal body')\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(folder), PASSWORD], check=True)
    wal = (folder / "store.sqlite-wal").read_bytes()
    assert wal, "the killed writer left its WAL behind"

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(folder / "store.sqlite", alone / "store.sqlite")
    db = sqlite3.connect(alone / "store.sqlite")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    assert "items" not in tables  # without the WAL the vault looks empty

    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(folder, rebuilt, ignore=shutil.ignore_patterns("store.sqlite*"))
    image = spec.apply_wal((folder / "store.sqlite").read_bytes(), wal)
    (rebuilt / "store.sqlite").write_bytes(image)
    for place in (folder, rebuilt):
        notes = spec.read_vault(place, password=PASSWORD)["note"]
        assert [(n["title"], n["body"]) for n in notes] == [("Only in the WAL", "wal body")]


def test_libsodium_pwhash_is_argon2id_with_one_lane_only() -> None:
    """FORMAT.md: slots are RFC 9106 Argon2id with p lanes. libsodium's crypto_pwhash (PyNaCl's
    argon2id.kdf) computes exactly p = 1; vaults are made with p = 2, which needs another
    implementation such as argon2-cffi's hash_secret_raw."""
    from argon2.low_level import Type, hash_secret_raw
    from nacl.pwhash import argon2id

    from vault.sealing.crypto import DEFAULT_KDF

    def rfc9106(p: int) -> bytes:
        return hash_secret_raw(
            secret=b"pw",
            salt=bytes(16),
            time_cost=2,
            memory_cost=1024,
            parallelism=p,
            hash_len=32,
            type=Type.ID,
            version=19,
        )

    sodium = argon2id.kdf(32, b"pw", bytes(16), opslimit=2, memlimit=1024 * 1024)
    assert sodium == rfc9106(1)
    assert sodium != rfc9106(2)
    assert DEFAULT_KDF.parallelism == 2


def test_the_label_and_context_tables_name_every_string_the_code_uses() -> None:
    """Every BLAKE2b label (a bytes literal "vault ...") and every associated-data word
    ("vault-...") in vault/ is in FORMAT.md's tables, and the tables name nothing else."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    source = "\n".join(p.read_text() for p in sorted((root / "vault").rglob("*.py")))
    labels = set(re.findall(r'\bb"(vault [^"]*)"', source))
    contexts = set(re.findall(r'"(vault-[a-z-]+)\\x00', source))
    contexts |= set(re.findall(r'\(\s*"(vault-[a-z-]+)",\s*str\(', source))
    spec_text = (root / "docs" / "FORMAT.md").read_text()
    table = spec_text.split("**Labels**", 1)[1].split("These are all the labels", 1)[0]
    documented = set(re.findall(r"^  \| `([^`]+)` \|", table, re.M))
    assert labels == documented, labels ^ documented
    assert all(len(label) <= 16 for label in labels)
    ad_table = spec_text.split("**Associated data**", 1)[1].split("Backup parts use", 1)[0]
    documented_ads = set(re.findall(r"^  \| `([^`]+)` \|", ad_table, re.M))
    assert contexts == documented_ads, contexts ^ documented_ads
