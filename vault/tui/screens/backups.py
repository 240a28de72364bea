"""Backups in the app: back up now, the list of this vault's backups (with what each holds and
a check that it reads back whole), and exporting the notes as Markdown files.

A backup is as safe to keep anywhere as the vault itself (docs/BACKUP.md). An export is not:
its files are plain text, so the export dialog says so before anything is written, and asks
again before writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from vault.config import Config
from vault.errors import VaultError
from vault.fsutil import storage_error
from vault.interchange.backup import (
    BackupInfo,
    BackupReport,
    VerifyReport,
    backup_dir,
    create_backup,
    left_out_text,
    list_backups,
    size_text,
    verify_backup,
)
from vault.interchange.markdown_io import ExportReport, check_export_target, export_markdown
from vault.paths import expanded
from vault.tui.failures import ReportsWorkerErrors, describe
from vault.tui.keys import BACKUP_KEYS, bindings
from vault.tui.safetext import text as plain_text
from vault.tui.screens.dialogs import InputDialog, Refused
from vault.tui.screens.entry import display_path
from vault.tui.session import Session, Stopped
from vault.tui.timefmt import Clock
from vault.wording import agree, plural

Progress = Callable[[int, int | None], None]


# --- the work, shared by the palette and the backups screen --------------------------------------


def back_up_now(session: Session, config: Config, progress: Progress | None = None) -> BackupReport:
    """A backup into the backup folder, read back whole before it counts (in a worker).
    Made by hand, so rotation never deletes it."""
    with session.task() as check:

        def step(done: int, total: int | None) -> None:
            check()
            if progress is not None:
                progress(done, total)

        folder = backup_dir(config)
        try:  # a missing folder is made private; create_backup would take it for a file name
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise storage_error(exc, folder) from None
        report = create_backup(session.vault, folder, history=True, progress=step)
        verify_backup(report.path, master_key=session.vault.master_key, open_items=False)
        return report


def export_notes(session: Session, folder: Path, progress: Progress | None = None) -> ExportReport:
    with session.task() as check:

        def step(done: int, total: int | None) -> None:
            check()
            if progress is not None:
                progress(done, total)

        return export_markdown(session.vault, folder, progress=step)


def contents_text(report: VerifyReport) -> str:
    notes = report.live.get("note", 0)
    return f"{plural(notes, 'note')} · {plural(report.versions, 'version')}"


def verdict(report: VerifyReport) -> str:
    if report.ok:
        return "✓ whole; every item opens" if report.items_checked else "✓ reads back whole"
    damaged = len(report.damaged)
    return f"✗ {plural(damaged, 'item')} {agree(damaged, 'does', 'do')} not open"


# --- messages -------------------------------------------------------------------------------------


@dataclass
class BackupsListed(Message):
    folder: Path
    backups: list[BackupInfo]


@dataclass
class BackupCell(Message):
    path: Path
    column: str
    text: str


@dataclass
class BackupChecked(Message):
    path: Path
    text: str
    ok: bool


@dataclass
class BackupMadeHere(Message):
    text: str
    path: Path | None


# --- the list of backups --------------------------------------------------------------------------


class BackupsScreen(ReportsWorkerErrors, ModalScreen[str | None]):
    """This vault's backups, newest first. Dismissed with "export" when the person asks to
    export (the main screen runs that), else None."""

    BINDINGS: ClassVar[list[BindingType]] = bindings(BACKUP_KEYS)
    DEFAULT_CLASSES = "dialog"

    def __init__(self, session: Session, config: Config, *, clock: Clock) -> None:
        super().__init__()
        self.session = session
        self.config = config
        self.clock = clock
        self._rows: dict[str, BackupInfo] = {}
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="card", id="backups-card"):
            yield Label("Backups", classes="dialog-title")
            yield Static("", id="backups-where", classes="dialog-text", markup=False)
            yield DataTable(id="backups", cursor_type="row", zebra_stripes=False)
            yield Static("", id="backups-hint", classes="dialog-hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")
                yield Button("Export as Markdown…", id="export")
                yield Button("Verify", id="verify")
                yield Button("Back up now", id="backup-now", variant="primary")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (
            ("made", "Made"),
            ("size", "Size"),
            ("kind", "Kind"),
            ("contents", "Holds"),
            ("check", "Check"),
        ):
            table.add_column(label, key=key)
        keep = (self.config.get("backup.keep_daily"), self.config.get("backup.keep_weekly"))
        hours = float(self.config.get("backup.interval_hours"))
        when = f"every {hours:g} h of use" if hours > 0 else "not on a schedule"
        quit_ = ", and on quitting" if self.config.get("backup.on_quit") else ""
        self.query_one("#backups-where", Static).update(
            f"In {display_path(backup_dir(self.config))}. Automatic: {when}{quit_}, when "
            f"something changed; keeps the newest of {keep[0]} days and {keep[1]} weeks."
        )
        self._hint(
            "enter or v checks the chosen backup reads back whole and every note opens. "
            "Restore one with `vault backup restore FILE`."
        )
        self.load()

    def on_unmount(self) -> None:
        self._rows.clear()

    def _hint(self, text: str) -> None:
        self.query_one("#backups-hint", Static).update(text)

    # --- loading ----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="backups", exit_on_error=False)
    def load(self) -> None:
        folder = backup_dir(self.config)
        backups = list_backups(folder, self.session.vault.vault_id)
        self.post_message(BackupsListed(folder, backups))
        # What each one holds is inside its encrypted stream: read them one by one (the
        # master key in memory opens them; no item is decrypted for this).
        for info in backups:
            if info.problem is not None:
                continue
            try:
                with self.session.task():
                    report = verify_backup(
                        info.path, master_key=self.session.vault.master_key, open_items=False
                    )
            except Stopped:
                return
            except VaultError as exc:
                self.post_message(BackupCell(info.path, "contents", f"? {exc}"))
                continue
            self.post_message(BackupCell(info.path, "contents", contents_text(report)))

    def on_backups_listed(self, message: BackupsListed) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self._rows = {}
        now = self.clock()
        labels = [made_label(info, now) for info in message.backups]
        for info, label in zip(message.backups, labels, strict=True):
            key = str(info.path)
            self._rows[key] = info
            if labels.count(label) > 1:
                label = made_label(info, now, seconds=True)  # two made within a minute
            table.add_row(
                label,
                size_text(info.size),
                "automatic" if info.automatic else "by hand",
                "unreadable" if info.problem else "…",
                plain_text(info.problem or ""),  # may quote a file name from the folder
                key=key,
            )
        if not message.backups:
            self._hint("No backups yet. n (or Back up now) makes one.")
        self.query_one("#verify", Button).disabled = not message.backups
        table.focus()

    def on_backup_cell(self, message: BackupCell) -> None:
        self._set_cell(message.path, message.column, message.text)

    def _set_cell(self, path: Path, column: str, text: str) -> None:
        table = self.query_one(DataTable)
        if str(path) in self._rows:
            table.update_cell(str(path), column, plain_text(text), update_width=True)

    # --- verifying ----------------------------------------------------------------------------

    def _chosen(self) -> BackupInfo | None:
        table = self.query_one(DataTable)
        if not self._rows or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self._rows.get(key or "")

    def action_verify(self) -> None:
        info = self._chosen()
        if info is None or self._busy:
            return
        self._busy = True
        self._set_cell(info.path, "check", "checking…")
        self.verify(info.path)

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_verify()

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def verify(self, path: Path) -> None:
        try:
            with self.session.task() as check:

                def progress(done: int, total: int | None) -> None:
                    check()
                    if total:
                        percent = done * 100 // total
                        self.post_message(BackupCell(path, "check", f"checking… {percent}%"))

                report = verify_backup(
                    path, master_key=self.session.vault.master_key, progress=progress
                )
        except Stopped:
            return
        except Exception as exc:
            self.post_message(BackupChecked(path, f"✗ {describe(exc)}", False))
            return
        self.post_message(BackupCell(path, "contents", contents_text(report)))
        self.post_message(BackupChecked(path, verdict(report), report.ok))

    def on_backup_checked(self, message: BackupChecked) -> None:
        self._busy = False
        self._set_cell(message.path, "check", message.text)
        name = message.path.name
        if message.ok:
            self.notify(f"{name}: {message.text[2:]}.", title="Backup verified", timeout=5)
        else:
            self.notify(f"{name}: {message.text[2:]}", title="Backup check", severity="error")

    # --- backing up ---------------------------------------------------------------------------

    def action_backup_now(self) -> None:
        if self._busy:
            return
        self._busy = True
        self.query_one("#backup-now", Button).disabled = True
        self._hint("Backing up…")
        self.backup_now()

    @work(thread=True, exclusive=True, group="backup-now", exit_on_error=False)
    def backup_now(self) -> None:
        try:
            report = back_up_now(self.session, self.config)
        except Stopped:
            return
        except Exception as exc:
            self.post_message(BackupMadeHere(f"The backup failed: {describe(exc)}", None))
            return
        self.post_message(BackupMadeHere(made_text(report), report.path))

    def on_backup_made_here(self, message: BackupMadeHere) -> None:
        self._busy = False
        self.query_one("#backup-now", Button).disabled = False
        self._hint(message.text)
        if message.path is None:
            self.notify(message.text, title="Backup", severity="error")
        else:
            self.notify(message.text, title="Backup", timeout=5)
            self.load()

    def on_work_failed(self, message) -> None:  # type: ignore[no-untyped-def]
        self._busy = False
        self.query_one("#backup-now", Button).disabled = False

    # --- buttons ------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "close":
            self.dismiss(None)
        elif button == "export":
            self.dismiss("export")
        elif button == "verify":
            self.action_verify()
        elif button == "backup-now":
            self.action_backup_now()


def made_label(info: BackupInfo, now: datetime, *, seconds: bool = False) -> str:
    """When a backup was made, in the app's time zone: 'today, 15:41' or '21 Nov 2026, 10:00'."""
    if info.created is None:
        return info.path.name
    made = info.created.astimezone(now.tzinfo)
    clock = f"{made:%H:%M:%S}" if seconds else f"{made:%H:%M}"
    if made.date() == now.date():
        return f"today, {clock}"
    return f"{made.day} {made:%b %Y}, {clock}"


def made_text(report: BackupReport) -> str:
    left_out = left_out_text(report.slots_left_out)
    return (
        f"Backed up {plural(report.ops, 'version')} ({size_text(report.size)}) "
        f"to {report.path.name}; "
        "it reads back whole." + (f" But {left_out}." if left_out else "")
    )


# --- exporting ------------------------------------------------------------------------------------


class ExportDialog(InputDialog[Path | None]):
    """Where to write the Markdown files, with the warning that they are not encrypted."""

    def __init__(self, suggested: str, notes: int, error: str = "") -> None:
        super().__init__()
        self._suggested = suggested
        self._notes = notes
        self._error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="card"):
            yield Label("Export as Markdown", classes="dialog-title")
            yield Static(
                "The exported files are NOT encrypted. Anyone who can read that folder can "
                "read these notes, and a folder your sync app shares copies them elsewhere. "
                "Delete the export when you no longer need it.",
                classes="dialog-text warning",
                markup=False,
            )
            yield Static(
                f"Every note outside the trash ({self._notes:,}) becomes a .md file with its "
                "title, tags and dates; notebooks become folders.",
                classes="dialog-text",
                markup=False,
            )
            yield Input(self._suggested, placeholder="an empty or new folder", id="value")
            yield Static(self._error, classes="dialog-hint error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Export…", id="ok", variant="warning")

    def accept(self, text: str) -> Path:
        if not text.strip():
            raise Refused("Type the folder to write to.")
        try:
            folder = expanded(text.strip()).absolute()
            check_export_target(folder)
        except VaultError as exc:
            raise Refused(str(exc)) from None
        return folder
