"""docs/FORMAT.md is exact: a reader written from it alone opens a vault made by `vault`."""

from __future__ import annotations

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
    from vault.crypto import TEST_KDF
    from vault.notes import SNAPSHOT_MIN_ITEMS, Vault

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
