"""Attachments in the app: attach through the file dialog, the list under the editor, save as,
remove, images drawn in the terminal (half blocks under Pilot), hostile names, and locking
clearing all of it. Each test checks the store (a real vault) afterwards."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from PIL import Image as PILImage
from textual.widgets import Input

from tests.tui.conftest import open_vault, settle, type_into, unlock
from vault.notes.attachments import Attachment
from vault.tui.messages import StatusUpdate
from vault.tui.screens.attachment_dialogs import AttachDialog, FileTree, ImageScreen, SaveAsDialog
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.screens.main import MainScreen
from vault.tui.screens.unlock import UnlockScreen
from vault.tui.system_viewer import ViewerCopies
from vault.tui.widgets.attachment_markdown import PreviewImage
from vault.tui.widgets.image_view import HalfcellImage

TITLE = "Garden ideas"


async def open_note(pilot, main: MainScreen, title: str = TITLE) -> None:
    for note in main.notes_list.notes:
        if note.title == title:
            main.notes_list.select(note.id)
            break
    else:
        raise AssertionError(f"{title} is not in the list")
    await settle(pilot)
    assert main.pane.note is not None and main.pane.note.title == title


def attach_directly(vault_path: Path, source: Path, title: str = TITLE) -> None:
    with open_vault(vault_path) as vault:
        vault.attach(vault.find_note(title).id, source)


def attachments_of(vault_path: Path, title: str = TITLE) -> list[Attachment]:
    with open_vault(vault_path) as vault:
        return vault.attachments(vault.find_note(title).id)


async def until(pilot, condition, timeout: float = 10.0) -> None:
    """Like wait_until, without settling: the file tree's loader worker never completes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the app did not get there in time"
        await pilot.pause(0.05)


def red_square(path: Path, size: int = 8) -> Path:
    PILImage.new("RGB", (size, size), (200, 20, 20)).save(path)
    return path


def listed(main: MainScreen) -> list[str]:
    return [str(option.prompt) for option in main.attachment_list.options]


async def test_attach_through_the_dialog_lists_the_file(sample_vault: Path, app_for) -> None:
    home = Path.home()
    receipt = home / "receipt.pdf"
    receipt.write_bytes(b"%PDF-1.4 receipt " * 100)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        assert not main.attachment_list.display  # no attachments: no extra row
        assert "Attach a file…" in [name for name, _, _ in main.palette_actions()]
        await pilot.press("ctrl+f7")
        # Not settle(): the file tree's loader is a worker that waits for folders to open.
        await until(
            pilot, lambda: isinstance(app.screen, AttachDialog) and bool(app.screen.query("#value"))
        )
        dialog = app.screen
        assert isinstance(dialog, AttachDialog)
        # Room for the tree: 90% of the terminal up to 100 columns (not the 64 of a dialog).
        assert dialog.query_one(".card").outer_size.width == 100
        # A folder refused in place, then the file picked in the tree.
        await type_into(pilot, "#value", str(home))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AttachDialog)
        tree = dialog.query_one(FileTree)
        await until(
            pilot, lambda: any(n.data and n.data.path == receipt for n in tree.root.children)
        )
        node = next(n for n in tree.root.children if n.data and n.data.path == receipt)
        tree.select_node(node)
        tree.post_message(FileTree.FileSelected(node, receipt))
        await pilot.pause()
        assert dialog.query_one("#value", Input).value == str(receipt)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert [a.name for a in attachments_of(sample_vault)] == ["receipt.pdf"]
        assert main.attachment_list.display
        assert listed(main) == ["receipt.pdf  1.7 KB"]
        # The editor's note follows the new version: typing after it is no conflict.
        main.pane.text_area.focus()
        await pilot.press("X")
        main.save_now()
        await settle(pilot)
    with open_vault(sample_vault) as vault:
        note = vault.find_note(TITLE)
        assert not note.conflict and note.body.startswith("X")
        assert [a.name for a in vault.attachments(note.id)] == ["receipt.pdf"]


async def test_a_typed_path_that_is_missing_is_refused_in_place(sample_vault: Path, app_for):
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.action_attach_file()
        await until(
            pilot, lambda: isinstance(app.screen, AttachDialog) and bool(app.screen.query("#value"))
        )
        await type_into(pilot, "#value", "~/nothing-here.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AttachDialog)
        hint = str(app.screen.query_one(".dialog-hint").render())
        assert "No file at" in hint and "nothing-here.txt" in hint
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
    assert attachments_of(sample_vault) == []


async def test_a_large_file_shows_its_progress(sample_vault: Path, app_for) -> None:
    big = Path.home() / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    said: list[str] = []

    def hook(message) -> None:
        if isinstance(message, StatusUpdate) and message.key == "message":
            said.append(message.text)

    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.action_attach_file()
        await until(
            pilot, lambda: isinstance(app.screen, AttachDialog) and bool(app.screen.query("#value"))
        )
        await type_into(pilot, "#value", "~/big.bin")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await settle(pilot)
        assert listed(main) == ["big.bin  6.3 MB"]
    assert any("Attaching big.bin… " in text and "% of 6.3 MB" in text for text in said)
    assert said[-1] == ""  # the status bar is cleared afterwards


async def test_not_yet_here_is_listed_and_said(sample_vault: Path, app_for) -> None:
    source = Path.home() / "scan.pdf"
    source.write_bytes(b"scan" * 10)
    attach_directly(sample_vault, source)
    for blob in (sample_vault / "blobs").rglob("*"):
        if blob.is_file():
            blob.unlink()  # as on a device the bytes have not reached yet
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        assert listed(main) == ["scan.pdf  40 bytes  not yet here"]
        main.attachment_list.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert any("not here yet" in str(n.message) for n in app._notifications)


async def test_save_as_writes_the_file_and_never_over_another(sample_vault: Path, app_for):
    data = os.urandom(5000)
    source = Path.home() / "data.bin"
    source.write_bytes(data)
    attach_directly(sample_vault, source)
    target = Path.home() / "copy.bin"
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.attachment_list.focus()
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SaveAsDialog)
        await type_into(pilot, "#value", str(source))  # exists: refused
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsDialog)
        assert "exists already" in str(app.screen.query_one(".dialog-hint").render())
        await type_into(pilot, "#value", str(target))
        await pilot.press("enter")
        await settle(pilot)
        assert target.read_bytes() == data
        assert target.stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in Path.home().iterdir() if "vault-saving" in p.name) == []


async def test_remove_asks_then_removes(sample_vault: Path, app_for) -> None:
    source = Path.home() / "old.txt"
    source.write_text("old")
    attach_directly(sample_vault, source)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.attachment_list.focus()
        await pilot.press("delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert not main.attachment_list.display
        assert main.attachment_list.attachments == []
    assert attachments_of(sample_vault) == []


async def test_an_image_opens_in_the_image_screen_as_half_blocks(sample_vault: Path, app_for):
    attach_directly(sample_vault, red_square(Path.home() / "red.png"))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.attachment_list.focus()
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImageScreen)
        view = screen.query_one("#image")
        assert isinstance(view, HalfcellImage)
        assert view.size.height > 0
        line = view.render_line(0)
        assert "▀" in line.text
        styles = {
            segment.style.bgcolor for segment in line if segment.style and segment.text == "▀"
        }
        assert any(c is not None and c.triplet and c.triplet.red > 150 for c in styles)
        assert "red.png" in str(screen.query_one("#image-title").render())
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)


async def test_the_preview_draws_an_attached_image_or_names_it(sample_vault: Path, app_for):
    attach_directly(sample_vault, red_square(Path.home() / "red.png"))
    with open_vault(sample_vault) as vault:
        note = vault.find_note(TITLE)
        vault.update_note(note, body="![](attachment:red.png)\n\n![a](attachment:gone.png)\n")
    app = app_for(sample_vault)
    async with app.run_test(size=(140, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.action_cycle_preview()  # side by side
        await settle(pilot)
        await settle(pilot)
        shown = {p.attachment_name: p for p in main.query(PreviewImage)}
        assert set(shown) == {"red.png", "gone.png"}
        assert shown["red.png"].query(HalfcellImage)
        line = str(shown["gone.png"].query_one(".preview-image-line").render())
        assert "gone.png" in line and "no attachment by that name" in line
        assert main.image_cache.peek("red.png") is not None


async def test_hostile_names_are_text_with_controls_visible(sample_vault: Path, app_for):
    hostile = "[@click=app.quit]x [b]bold.txt"
    source = Path.home() / hostile
    source.write_text("x")
    attach_directly(sample_vault, source)
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        assert listed(main) == [f"{hostile}  1 byte"]
        main.attachment_list.focus()
        await pilot.press("delete")  # the name in a dialog, and in the toast after
        await settle(pilot)
        assert hostile in str(app.screen.query_one(".dialog-text").render())
        await pilot.press("escape")
        await settle(pilot)
        # A name the domain would refuse, as a hostile writer could seal it: shown visibly.
        forged = Attachment("a\x1b]52;c;ZXZpbA==\x07b.png", 3, "image/png", "0" * 64, False)
        main.attachment_list.show(main.pane.note.id, [forged])
        await pilot.pause()
        text = listed(main)[0]
        assert "\x1b" not in text and "\x07" not in text and "^[" in text
        assert isinstance(app.screen, MainScreen)  # nothing ran, nothing crashed


async def test_locking_clears_the_attachments(sample_vault: Path, app_for) -> None:
    attach_directly(sample_vault, red_square(Path.home() / "red.png"))
    app = app_for(sample_vault)
    async with app.run_test(size=(120, 40)) as pilot:
        main = await unlock(pilot)
        await open_note(pilot, main)
        main.attachment_list.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ImageScreen)
        main._viewer_copies = copies = ViewerCopies(["sleep", "30"])  # a viewer left open
        held = copies.open("red.png", lambda out: out.write(b"bytes"))  # a viewer's copy
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, UnlockScreen)
        assert not any(isinstance(s, ImageScreen) for s in app.screen_stack)
        assert main.attachment_list.attachments == [] and main.attachment_list.option_count == 0
        assert main.image_cache.peek("red.png") is None and main.image_cache.note_id is None
        assert not held.exists() and not held.parent.exists()


def test_a_viewer_gets_a_private_copy_wiped_when_it_is_done(tmp_path: Path, isolated_env) -> None:
    seen = tmp_path / "seen"
    # A real program as the viewer: it records the copy's modes and bytes, then exits.
    viewer = ["sh", "-c", 'stat -c "%a" "$(dirname "$1")" "$1" > "$0"; cat "$1" >> "$0"', str(seen)]
    copies = ViewerCopies(viewer, keep_seconds=0)
    path = copies.open("photo [1].png", lambda out: out.write(b"PIXELS"))
    assert path.name == "photo _1_.png"
    assert str(path).startswith(os.environ["XDG_RUNTIME_DIR"])
    deadline = time.monotonic() + 10
    while path.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not path.parent.exists()
    assert seen.read_text().split() == ["700", "600", "PIXELS"]


def test_wipe_all_removes_copies_whose_viewer_is_still_open(tmp_path: Path, isolated_env):
    copies = ViewerCopies(["sleep", "30"])
    path = copies.open("a.pdf", lambda out: out.write(b"secret"))
    assert path.read_bytes() == b"secret"
    copies.wipe_all()
    assert not path.parent.exists()
    subprocess.run(["true"], check=True)
