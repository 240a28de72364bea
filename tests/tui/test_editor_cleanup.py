"""The app's external editor (ctrl+o) shares `vault edit`'s clean-up: editor folders that a
killed process left behind (named for a pid that is gone) are wiped before the next editor
starts (issue 12 §3)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.tui.conftest import settle, unlock
from tests.tui.test_editing import open_note


async def test_ctrl_o_sweeps_editor_folders_of_dead_processes(
    sample_vault: Path, app_for, tmp_path: Path, monkeypatch
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    base = Path(os.environ["XDG_RUNTIME_DIR"])
    stale = base / f"vault-edit-{dead.pid}-left0ver"
    stale.mkdir(mode=0o700)
    (stale / "note.md").write_text("plaintext a killed app left behind")
    seen = tmp_path / "seen-path"
    script = tmp_path / "fake-editor"
    script.write_text(f'#!/bin/sh\necho "$1" > {seen}\nprintf \'more\\n\' >> "$1"\n')
    script.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(script))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main, "Garden ideas")
        await pilot.press("ctrl+o")
        await settle(pilot)
        assert main.pane.text.endswith("more\n")
    assert not stale.exists()
    edited = Path(seen.read_text().strip())
    assert edited.parent.parent == base and edited.parent.name.startswith(
        f"vault-edit-{os.getpid()}-"
    )
    assert not edited.parent.exists()
