"""The main screen's attachments: attach a file, list the open note's files under the editor,
save one as, remove one, open one with the system viewer, and show images in the terminal.

A mixin of MainScreen. Every domain call runs in a worker and every change goes through the
Session, one write at a time with the autosave. Images are decrypted into memory only (the
preview's and the image screen's); the system viewer gets a private copy that is wiped when it
is done and when the vault locks (vault/tui/system_viewer.py). Locking empties all of it.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from vault.errors import AttachmentMissing, NotFoundError, VaultError
from vault.notes.attachments import Attachment, entries, parse_attachment_link
from vault.notes.model import Note
from vault.tui.messages import NoteWritten, StatusUpdate
from vault.tui.safetext import escaped
from vault.tui.screens.attachment_dialogs import (
    AttachDialog,
    ImageScreen,
    SaveAsDialog,
    suggested_path,
)
from vault.tui.screens.dialogs import ConfirmDialog
from vault.tui.session import Session
from vault.tui.system_viewer import ViewerCopies
from vault.tui.widgets.attachment_list import AttachmentList, human_size
from vault.tui.widgets.attachment_markdown import AttachmentMarkdown
from vault.tui.widgets.image_view import (
    MAX_IMAGE_BYTES,
    ImageCache,
    Loaded,
    NotAnImage,
    decode_image,
    is_image,
)

if TYPE_CHECKING:
    from textual.screen import Screen

    from vault.tui.widgets.editor import EditorPane

    class _Host(Screen[None]):
        session: Session | None

        @property
        def pane(self) -> EditorPane: ...

else:
    _Host = object

PROGRESS_FROM = 4 * 1024 * 1024  # files this large show their progress in the status bar
NOT_HERE = "not yet here"


@dataclass
class AttachmentsLoaded(Message):
    note_id: str
    attachments: list[Attachment]


@dataclass
class ImageLoaded(Message):
    note_id: str
    attachment: Attachment | None  # None: the note has no attachment by that name
    name: str
    loaded: Loaded
    show: bool  # for the image screen (else for the preview)


class AttachmentActions(_Host):
    _image_cache: ImageCache | None = None
    _viewer_copies: ViewerCopies | None = None

    # --- what is shown ------------------------------------------------------------------------

    @property
    def attachment_list(self) -> AttachmentList:
        return self.query_one(AttachmentList)

    @property
    def image_cache(self) -> ImageCache:
        if self._image_cache is None:
            self._image_cache = ImageCache()
            self._image_cache.request = self._preview_wants
        preview = self.pane.markdown
        if isinstance(preview, AttachmentMarkdown) and preview.images is not self._image_cache:
            preview.images = self._image_cache
        return self._image_cache

    @property
    def viewer_copies(self) -> ViewerCopies:
        if self._viewer_copies is None:
            self._viewer_copies = ViewerCopies()
        return self._viewer_copies

    def show_attachments(self, note: Note) -> None:
        """A note is shown in the editor: list its attachments (read in a worker)."""
        cache = self.image_cache
        cache.for_note(note.id)
        listed = self.attachment_list
        if not entries(note):
            listed.show(note.id, [])
            return
        if listed.note_id != note.id:
            listed.show(note.id, [])
        self.load_attachments(note.id)

    @work(thread=True, exclusive=True, group="attachments", exit_on_error=False)
    def load_attachments(self, note_id: str) -> None:
        session = self.session
        if session is None:
            return
        self.post_message(AttachmentsLoaded(note_id, session.vault.attachments(note_id)))

    def on_attachments_loaded(self, message: AttachmentsLoaded) -> None:
        note = self.pane.note
        if note is None or note.id != message.note_id or self.session is None:
            return
        cache = self.image_cache
        stale = False
        for attachment in message.attachments:
            loaded = cache.peek(attachment.name)
            arrived = loaded is not None and loaded.reason == NOT_HERE and attachment.present
            if loaded is not None and (loaded.blob != attachment.blob or arrived):
                cache.forget(attachment.name)  # another file under that name, or it arrived
                stale = True
        self.attachment_list.show(note.id, message.attachments)
        if stale:
            self.pane.refresh_preview()

    def wipe_attachments(self) -> None:
        """Locking or quitting: every name, picture and private copy goes."""
        if self._image_cache is not None:
            self._image_cache.clear()
        if self._viewer_copies is not None:
            self._viewer_copies.wipe_all()
        with contextlib.suppress(Exception):
            self.attachment_list.clear()

    # --- attach -------------------------------------------------------------------------------

    def _open_note(self) -> Note | None:
        """The note in the editor, if files can be attached to it now."""
        note = self.pane.note
        if note is None or self.session is None:
            self.notify("Open a note first: files are attached to the note in the editor.")
            return None
        if note.in_trash:
            self.notify("Restore the note first (u): notes in the trash do not change.")
            return None
        return note

    def action_attach_file(self) -> None:
        note = self._open_note()
        if note is None:
            return

        def chosen(path: Path | None) -> None:
            if path is not None and self.session is not None:
                self.attach_worker(note, path)

        self.app.push_screen(AttachDialog(note.title), chosen)

    @work(thread=True, group="attach", exit_on_error=False)
    def attach_worker(self, note: Note, path: Path) -> None:
        session = self.session
        if session is None:
            return
        name = path.name
        progress = self._progress(f"Attaching {name}")
        try:
            attachment, written = session.attach(note, path, progress=progress)
        finally:
            self.post_message(StatusUpdate("message", ""))
        self.post_message(NoteWritten(written, note.id, f"Attached {attachment.name}"))
        self.post_message(AttachmentsLoaded(note.id, session.vault.attachments(note.id)))

    def _progress(self, what: str):  # type: ignore[no-untyped-def]
        """A progress callback that shows big files' progress in the status bar."""
        shown_percent = [-1]

        def report(done: int, total: int) -> None:
            if total < PROGRESS_FROM:
                return
            percent = done * 100 // max(total, 1)
            if percent != shown_percent[0]:
                shown_percent[0] = percent
                text = f"{escaped(what)}… {percent}% of {human_size(total)}"
                self.post_message(StatusUpdate("message", text))

        return report

    # --- the chosen attachment ----------------------------------------------------------------

    def _chosen(self) -> tuple[Note, Attachment] | None:
        note = self.pane.note
        attachment = self.attachment_list.highlighted_attachment
        if note is None or attachment is None or self.session is None:
            return None
        if self.attachment_list.note_id != note.id:
            return None
        return note, attachment

    def _here(self, attachment: Attachment) -> bool:
        if not attachment.present:
            self.notify(
                f"{attachment.name} is not here yet: its bytes arrive with the next sync "
                "from the device that added it.",
                severity="warning",
            )
        return attachment.present

    def on_attachment_list_chosen(self, event: AttachmentList.Chosen) -> None:
        # A named handler: @on in a mixin that is not a MessagePump is never collected.
        event.stop()
        chosen = self._chosen()
        if chosen is None:
            return
        note, attachment = chosen
        if not self._here(attachment):
            return
        if is_image(attachment.media_type) and attachment.size <= MAX_IMAGE_BYTES:
            self.load_image(note, attachment.name, show=True)
        else:
            self.open_outside(note, attachment.name)

    def action_open_attachment(self) -> None:
        chosen = self._chosen()
        if chosen is not None and self._here(chosen[1]):
            self.open_outside(chosen[0], chosen[1].name)

    def open_attachment_link(self, href: str) -> None:
        """A click on `[text](attachment:NAME)` in the preview."""
        name = parse_attachment_link(href)
        note = self.pane.note
        if name is None or note is None:
            return
        for attachment in self.attachment_list.attachments:
            if attachment.name == name:
                if not self._here(attachment):
                    return
                if is_image(attachment.media_type) and attachment.size <= MAX_IMAGE_BYTES:
                    self.load_image(note, name, show=True)
                else:
                    self.open_outside(note, name)
                return
        self.notify(f"This note has no attachment named {name}.", severity="warning")

    @work(thread=True, group="attachment-open", exit_on_error=False)
    def open_outside(self, note: Note, name: str) -> None:
        session = self.session
        if session is None:
            return
        self.viewer_copies.open(
            name, lambda out: session.save_attachment(note, name, out, private=True)
        )

    def action_save_attachment(self) -> None:
        chosen = self._chosen()
        if chosen is None or not self._here(chosen[1]):
            return
        note, attachment = chosen
        self._save_as(note, attachment)

    def _save_as(self, note: Note, attachment: Attachment) -> None:
        def where(path: Path | None) -> None:
            if path is not None and self.session is not None:
                self.save_worker(note, attachment, path)

        self.app.push_screen(SaveAsDialog(attachment.name, suggested_path(attachment.name)), where)

    @work(thread=True, group="attachment-save", exit_on_error=False)
    def save_worker(self, note: Note, attachment: Attachment, path: Path) -> None:
        session = self.session
        if session is None:
            return
        # Written beside the target under a name of ours, and given its name only once whole
        # and verified: a failure leaves nothing half-written under the name asked for.
        tmp = path.with_name(f".{path.name[:100]}.vault-saving-{secrets.token_hex(4)}")
        progress = self._progress(f"Saving {attachment.name}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                session.save_attachment(note, attachment.name, out, progress, private=True)
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # never over a file that appeared meanwhile
        except FileExistsError:
            raise VaultError(f"{path} exists already; nothing was written there") from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self.post_message(StatusUpdate("message", ""))
        self.app.call_from_thread(self.notify, f"Saved {attachment.name} to {path}.", timeout=5)

    def action_remove_attachment(self) -> None:
        chosen = self._chosen()
        if chosen is None:
            return
        note, attachment = chosen

        def answer(remove: bool | None) -> None:
            if remove and self.session is not None:
                self.image_cache.forget(attachment.name)
                self.remove_worker(note, attachment.name)

        self.app.push_screen(
            ConfirmDialog(
                "Remove attachment?",
                f"Remove {attachment.name} ({human_size(attachment.size)}) from "
                f"{note.title}? The note's history (f6) keeps the versions that had it.",
                "Remove",
                danger=True,
            ),
            answer,
        )

    @work(thread=True, group="write", exit_on_error=False)
    def remove_worker(self, note: Note, name: str) -> None:
        session = self.session
        if session is None:
            return
        written = session.remove_attachment(note, name)
        self.post_message(NoteWritten(written, note.id, f"Removed {name}"))
        self.post_message(AttachmentsLoaded(note.id, session.vault.attachments(note.id)))

    # --- images -------------------------------------------------------------------------------

    def _preview_wants(self, name: str) -> None:
        """The preview shows `![](attachment:NAME)` and has not got the picture yet."""
        note = self.pane.note
        if note is not None and self.session is not None:
            self.load_image(note, name, show=False)

    @work(thread=True, group="attachment-image", exit_on_error=False)
    def load_image(self, note: Note, name: str, show: bool) -> None:
        session = self.session
        if session is None:
            return
        found = next((a for a in session.vault.attachments(note.id) if a.name == name), None)
        self.post_message(
            ImageLoaded(note.id, found, name, self._decoded(session, note, found), show)
        )

    @staticmethod
    def _decoded(session: Session, note: Note, attachment: Attachment | None) -> Loaded:
        """Decrypt an image into memory and decode it (never to a file)."""
        if attachment is None:
            return Loaded(None, "no attachment by that name")
        blob = attachment.blob
        if not attachment.present:
            return Loaded(None, NOT_HERE, blob)
        if not is_image(attachment.media_type):
            return Loaded(None, "not an image", blob)
        if attachment.size > MAX_IMAGE_BYTES:
            return Loaded(None, f"too large to show here ({human_size(attachment.size)})", blob)
        buffer = io.BytesIO()
        try:
            session.save_attachment(note, attachment.name, buffer)
            return Loaded(decode_image(buffer.getvalue()), "", blob)
        except AttachmentMissing:
            return Loaded(None, NOT_HERE, blob)
        except NotFoundError:
            return Loaded(None, "no attachment by that name", blob)
        except NotAnImage as exc:
            return Loaded(None, str(exc), blob)
        finally:
            buffer.close()

    def on_image_loaded(self, message: ImageLoaded) -> None:
        note = self.pane.note
        if note is None or note.id != message.note_id or self.session is None:
            return
        cache = self.image_cache
        cache.put(message.note_id, message.name, message.loaded)
        if not message.show:
            self.pane.refresh_preview()
            return
        image = message.loaded.image
        attachment = message.attachment
        if image is None or attachment is None:
            self.notify(
                f"{message.name} cannot be shown here: {message.loaded.reason}.",
                severity="warning",
            )
            return

        def then(choice: str | None) -> None:
            if choice == "open":
                self.open_outside(note, attachment.name)
            elif choice == "save":
                self._save_as(note, attachment)

        self.app.push_screen(ImageScreen(attachment.name, attachment.size, image), then)
