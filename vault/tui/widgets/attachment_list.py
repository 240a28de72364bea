"""The open note's attachments, listed under the editor: name, size, "not yet here".

Hidden while the note has none, so a note without attachments looks as it always did. A name
is another device's text: it is shown as text (never markup), control characters visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import BindingType
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from vault.notes.attachments import Attachment
from vault.tui.keys import ATTACHMENT_KEYS, bindings
from vault.tui.safetext import content


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            if unit == "bytes":
                return "1 byte" if size == 1 else f"{size:,} bytes"
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{size:,} bytes"  # pragma: no cover - the loop always returns


def label(attachment: Attachment) -> Content:
    parts = [content(attachment.name), Content.styled(human_size(attachment.size), "$text-muted")]
    if not attachment.present:
        parts.append(Content.styled("not yet here", "$warning"))
    return Content("  ").join(parts)


class AttachmentList(OptionList):
    """One line per attachment; enter opens it (an image in the app, any other file with the
    system viewer)."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(ATTACHMENT_KEYS)

    @dataclass
    class Chosen(Message):
        """Enter on an attachment."""

        attachment: Attachment

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self.attachments: list[Attachment] = []
        self.note_id: str | None = None

    def on_mount(self) -> None:
        self.display = False

    def show(self, note_id: str | None, attachments: list[Attachment]) -> None:
        keep = self.highlighted_attachment
        self.note_id = note_id
        self.attachments = list(attachments)
        self.clear_options()
        self.add_options([Option(label(a), id=str(i)) for i, a in enumerate(attachments)])
        self.display = bool(attachments)
        count = len(attachments)
        self.border_title = f"{count} attachment{'' if count == 1 else 's'}" if count else ""
        if attachments:
            names = [a.name for a in attachments]
            index = names.index(keep.name) if keep is not None and keep.name in names else 0
            self.highlighted = index

    def clear(self) -> None:
        """No note, or locking: every name leaves the widget."""
        self.show(None, [])
        self.tooltip = None

    @property
    def highlighted_attachment(self) -> Attachment | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.attachments):
            return None
        return self.attachments[index]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        attachment = self.highlighted_attachment
        if attachment is not None:
            self.post_message(self.Chosen(attachment))
