"""Wiping a folder of plaintext (the editor's, a killed export's) touches nothing outside it:
symlinks are removed, not followed; hard links elsewhere are unlinked, not zeroed; a FIFO never
blocks; and every folder made for a backup or an export is private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from vault.fsutil import make_private_dirs, wipe_tree


def test_wiping_a_folder_touches_nothing_outside_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "linked.txt").write_text("keep me")
    (outside / "hard.txt").write_text("keep me too")
    folder = tmp_path / "work"
    (folder / "sub").mkdir(parents=True)
    (folder / "note.md").write_text("plaintext")
    (folder / "sub" / "swap").write_text("plaintext copy")
    (folder / "to-file").symlink_to(outside / "linked.txt")
    (folder / "to-dir").symlink_to(outside)
    os.link(outside / "hard.txt", folder / "hard")
    os.mkfifo(folder / "fifo")
    wipe_tree(folder)
    assert not folder.exists()
    assert (outside / "linked.txt").read_text() == "keep me"
    assert (outside / "hard.txt").read_text() == "keep me too"
    assert sorted(p.name for p in outside.iterdir()) == ["hard.txt", "linked.txt"]


def test_make_private_dirs_makes_every_new_folder_private(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir(mode=0o755)
    old = os.umask(0o022)
    try:
        made = make_private_dirs(tmp_path / "mine" / "a" / "b")
    finally:
        os.umask(old)
    assert made == [tmp_path / "mine" / "a", tmp_path / "mine" / "a" / "b"]
    for folder in made:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # an existing folder is a person's own: its permissions stay
    assert stat.S_IMODE((tmp_path / "mine").stat().st_mode) == 0o755
