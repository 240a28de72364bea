"""The attachment dialogs: pick a file to attach, choose where to save one, and the image
viewer. Names of attachments are another device's text: shown as text, never markup."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from PIL import Image as PILImage
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DirectoryTree, Footer, Input, Label, Static

from vault.tui.safetext import content, shown
from vault.tui.screens.dialogs import InputDialog, Refused
from vault.tui.widgets.attachment_list import human_size
from vault.tui.widgets.image_view import ImageView


def _expand(text: str) -> Path:
    return Path(os.path.expanduser(text.strip()))


class FileTree(DirectoryTree):
    """Folders and files, hidden ones left out (a dotfile is seldom what one attaches)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [path for path in paths if not path.name.startswith(".")]


class AttachDialog(InputDialog[Path | None]):
    """Pick a file in the tree, or type (paste) its path; Enter or Attach takes it."""

    DEFAULT_CSS = """
    AttachDialog FileTree {
        height: 1fr;
        margin: 1 0;
    }
    """

    def __init__(self, note_title: str, start: Path | None = None) -> None:
        super().__init__()
        self._note_title = note_title
        self._start = start if start is not None else Path.home()

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Attach a file", classes="dialog-title")
            yield Static(content(f"to {self._note_title}"), classes="dialog-text")
            yield Input(
                placeholder="path of the file (~ works), or pick it below",
                id="value",
            )
            yield FileTree(self._start, id="files")
            yield Static("", classes="dialog-hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Attach", id="ok", variant="primary")

    def accept(self, text: str) -> Path:
        if not text.strip():
            raise Refused("Type a path, or pick a file in the tree.")
        path = _expand(text)
        if path.is_dir():
            raise Refused("That is a folder: pick a file in it.")
        if not path.exists():
            raise Refused(f"No file at {shown(str(path))}.")
        if not path.is_file():
            raise Refused("Only regular files can be attached.")
        return path

    @on(DirectoryTree.FileSelected)
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        field = self.query_one("#value", Input)
        field.value = str(event.path)
        field.cursor_position = len(field.value)
        self.query_one(".dialog-hint", Static).update(
            "Enter attaches it." if not field.has_focus else ""
        )
        field.focus()

    @on(DirectoryTree.DirectorySelected)
    def _folder_picked(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        field = self.query_one("#value", Input)
        field.value = str(event.path) + os.sep

    @on(Input.Changed, "#value")
    def _typed(self, event: Input.Changed) -> None:
        # A folder typed (or pasted) becomes the tree's root, so one can pick from there.
        path = _expand(event.value) if event.value.strip() else None
        if path is not None and event.value.endswith(os.sep) and path.is_dir():
            tree = self.query_one(FileTree)
            if Path(tree.path) != path:
                tree.path = path


class SaveAsDialog(InputDialog[Path | None]):
    """Where to save an attachment: a new file (an existing one is not overwritten)."""

    SELECT_ALL = False

    def __init__(self, name: str, suggested: Path) -> None:
        super().__init__()
        self._name = name
        self._suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Save attachment as", classes="dialog-title")
            yield Static(content(self._name), classes="dialog-text")
            yield Input(str(self._suggested), id="value")
            yield Static(
                "The file is written decrypted, readable by you only.",
                classes="dialog-hint",
                markup=False,
            )
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def accept(self, text: str) -> Path:
        if not text.strip():
            raise Refused("Type where to save it.")
        path = _expand(text)
        if path.is_dir():
            path = path / self._suggested.name
        if path.exists() or path.is_symlink():
            raise Refused(f"{shown(str(path))} exists already; choose another name.")
        if not path.parent.is_dir():
            raise Refused(f"No folder {shown(str(path.parent))}.")
        return path


def suggested_path(name: str) -> Path:
    """~/Downloads/NAME where there is such a folder, else ~/NAME (a name safe as a file)."""
    from vault.tui.system_viewer import file_name

    home = Path.home()
    folder = home / "Downloads"
    return (folder if folder.is_dir() else home) / file_name(name)


class ImageScreen(ModalScreen[str | None]):
    """One attached image, as large as the terminal allows; escape closes it, `o` and `s`
    close it asking to open it outside or save it ("open", "save"). The picture is in memory
    only, and goes with the screen."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", show=True),
        Binding("o", "open_outside", "Open in viewer", show=True),
        Binding("s", "save_as", "Save as", show=True),
    ]

    DEFAULT_CSS = """
    ImageScreen {
        background: $background;
    }
    ImageScreen #image-title {
        height: 1;
        padding: 0 1;
        text-style: bold;
    }
    ImageScreen #image-box {
        height: 1fr;
        align: center middle;
    }
    ImageScreen #image {
        width: auto;
        height: auto;
    }
    """

    def __init__(self, name: str, size: int, image: PILImage.Image) -> None:
        super().__init__()
        self.attachment_name = name
        self._byte_size = size
        self._image: PILImage.Image | None = image

    def compose(self) -> ComposeResult:
        width, height = self._image.size if self._image is not None else (0, 0)
        yield Static(
            Content.assemble(
                content(self.attachment_name),
                Content.styled(
                    f"  {width}×{height} · {human_size(self._byte_size)}", "$text-muted"
                ),
            ),
            id="image-title",
        )
        with Center(id="image-box"):
            yield ImageView(self._image, id="image")
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_open_outside(self) -> None:
        self.dismiss("open")

    def action_save_as(self) -> None:
        self.dismiss("save")

    def on_unmount(self) -> None:
        self._image = None  # nothing decrypted outlives the screen
