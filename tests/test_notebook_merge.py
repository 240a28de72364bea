"""Same-named notebooks made apart on two devices become one, with the notes of both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import PASSWORD
from vault.notes.vault import Vault
from vault.sync import SyncEngine, clone, list_conflicts, set_remote

MakeVault = Callable[..., tuple[Vault, str]]


def _paths(vault: Vault) -> list[str]:
    return sorted(vault.notebook_path(nb.id) for nb in vault.notebooks())


def _where(vault: Vault) -> dict[str, str]:
    return {n.title: vault.notebook_path(n.notebook) for n in vault.all_notes()}


def test_same_path_notebooks_made_apart_merge(tmp_path: Path, make_vault: MakeVault) -> None:
    folder = tmp_path / "shared"
    a, _ = make_vault(tmp_path / "a")
    set_remote(a.store, folder)
    SyncEngine(a).sync()
    b, _ = clone(folder, tmp_path / "b", password=PASSWORD)
    try:
        garden_a, _ = a.ensure_notebook("Projects/Garden")
        a.create_note("Tomatoes", "", notebook=garden_a.id)
        a.ensure_notebook("Projects/Garden/Seeds")
        garden_b, _ = b.ensure_notebook("projects/garden")  # another spelling of the same path
        b.create_note("Roses", "", notebook=garden_b.id)
        seeds_b, _ = b.ensure_notebook("projects/garden/seeds")
        b.create_note("Basil", "", notebook=seeds_b.id)
        trashed = b.create_note("Old plan", "", notebook=garden_b.id)
        b.trash_note(trashed)
        for _ in range(3):
            for v in (a, b):
                SyncEngine(v).sync()
        for v in (a, b):
            assert len(_paths(v)) == 3, _paths(v)
            where = _where(v)
            assert where["Tomatoes"] == where["Roses"] == where["Old plan"]
            assert where["Basil"].casefold() == "projects/garden/seeds"
            assert not list_conflicts(v)
        assert _paths(a) == _paths(b)
        # one repair between the two devices: no forks were made
        for v in (a, b):
            assert all(len(v.store.heads(n.id)) == 1 for n in v.all_notes())
        fresh, _ = clone(folder, tmp_path / "c", password=PASSWORD)
        assert _paths(fresh) == _paths(a) and _where(fresh) == _where(a)
        fresh.lock()
    finally:
        b.lock()
